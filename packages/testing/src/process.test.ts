import { once } from 'node:events'
import { createConnection } from 'node:net'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { LOOPBACK_ARGS, setArgs, startFluxmq } from './broker.js'
import { Cleanup } from './cleanup.js'
import { spawnFluxmq } from './process.js'

const FAKE = fileURLToPath(new URL('./test-support/fake-fluxmq.mjs', import.meta.url))
const cleanup = new Cleanup()
afterEach(() => cleanup.run())

describe('spawnFluxmq / startFluxmq', () => {
  it('starts with the loopback arguments first, reads ports from the listening lines, exits 0 on SIGTERM', async () => {
    const started = await startFluxmq({ bin: FAKE, args: setArgs({ 'log.level': 'info' }), env: { FAKE_ENV: 'passed' } })
    const fluxmq = cleanup.add(started.process, (child) => child.stop('SIGKILL'))
    expect(fluxmq.find('fluxmq started')?.args).toEqual([...LOOPBACK_ARGS, '--set', 'log.level=info'])
    const port = fluxmq.port('mqtt-tcp')
    expect(started.mqttUrl).toBe(`mqtt://127.0.0.1:${port}`)
    expect(fluxmq.find('mqtt-tcp listening')?.env).toBe('passed')
    expect(fluxmq.lines[0]).toEqual({ level: 0, msg: 'not json' })
    const socket = createConnection(port, '127.0.0.1')
    await once(socket, 'connect')
    socket.destroy()
    expect(await fluxmq.stop()).toBe(0)
    expect(fluxmq.lines.at(-1)?.msg).toBe('stopped')
    expect(() => fluxmq.port('http')).toThrow(/no port for listener http/)
  })

  it('escalates to SIGKILL when SIGTERM is ignored', async () => {
    const { process: fluxmq } = await startFluxmq({ bin: FAKE, args: ['--ignore-sigterm'], loopback: false })
    cleanup.add(fluxmq, (child) => child.stop('SIGKILL'))
    expect(await fluxmq.stop('SIGTERM', 300)).toBe('SIGKILL')
    expect(fluxmq.find('ignoring SIGTERM')).toBeDefined()
  })

  it('reports the exit code and stderr of a process that stops at start-up; waiting for a log line then fails at once', async () => {
    const fluxmq = spawnFluxmq({ bin: FAKE, args: ['--fail'] })
    expect(await fluxmq.exited).toBe(2)
    expect(fluxmq.exitStatus).toBe(2)
    expect(fluxmq.stderr).toContain('broker.max_qos')
    await expect(fluxmq.waitForLog('fluxmq started', 60_000)).rejects.toThrow(/fluxmq exited \(2\)[\s\S]*broker\.max_qos/)
    await expect(startFluxmq({ bin: FAKE, args: ['--fail'] })).rejects.toThrow(/fluxmq exited \(2\)/)
  })

  it('refuses a bin that does not exist, naming the build command', () => {
    expect(() => spawnFluxmq({ bin: '/nonexistent/bin.js' })).toThrow(/build @fluxmq\/broker first/)
  })
})
