// Stands in for the fluxmq command in the harness's own tests: pino-shaped JSON lines on stdout,
// a "listening" line per listener, "fluxmq started", exit 0 on SIGTERM. `--fail` exits 2 with one
// stderr line as a bad config does; `--ignore-sigterm` needs SIGKILL.
import { createServer } from 'node:net'
import process from 'node:process'

const args = process.argv.slice(2)
const log = (fields, msg) => process.stdout.write(`${JSON.stringify({ level: 30, time: Date.now(), ...fields, msg })}\n`)
if (args.includes('--fail')) {
  process.stderr.write('fluxmq: invalid value for broker.max_qos: 7; expected an integer from 0 to 2\n')
  process.exit(2)
}
process.stdout.write('not json\n')
const server = createServer((socket) => socket.end())
server.listen(0, '127.0.0.1', () => {
  log({ listener: 'mqtt-tcp', address: '127.0.0.1', port: server.address().port, env: process.env.FAKE_ENV ?? null }, 'mqtt-tcp listening')
  log({ args }, 'fluxmq started')
})
process.on('SIGTERM', () => {
  if (args.includes('--ignore-sigterm')) return log({}, 'ignoring SIGTERM')
  log({}, 'stopped')
  server.close(() => process.exit(0))
})
