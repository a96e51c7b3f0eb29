// Child process for the commit-failure test, run under `ulimit -f` so that the database files
// cannot grow past a few hundred KiB: appends until a commit fails, then reports what the engine
// said, as one JSON line. SIGXFSZ is ignored so that the write fails with EFBIG instead.
import { Buffer } from 'node:buffer'
import process from 'node:process'
import { QueueEngine } from '../../dist/index.js'

process.on('SIGXFSZ', () => undefined)
const [dir] = process.argv.slice(2)
const logged = []
const logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: (obj, msg) => logged.push({ code: obj.err?.code, msg }),
  child: () => logger,
}
const engine = QueueEngine.open({ dir, clock: { now: () => Date.now() }, logger, deliver: () => undefined })
let durableAppends = 0
for (;;) {
  const { durable } = engine.append('q', { topic: 't', payload: Buffer.alloc(4096, 1), qos: 1, retain: false, properties: {}, publishedAt: Date.now() })
  try {
    await durable
    durableAppends += 1
  } catch (error) {
    let later
    try {
      engine.append('q', { topic: 't', payload: Buffer.alloc(1), qos: 1, retain: false, properties: {}, publishedAt: Date.now() })
    } catch (laterError) {
      later = laterError.code
    }
    const report = { durableAppends, rejected: error.code, failure: engine.failure?.code, later, logged }
    process.stdout.write(`${JSON.stringify(report)}\n`)
    engine.close()
    process.exit(0)
  }
}
