import { EventEmitter } from 'node:events'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { RunningBroker } from '../app.js'
import { loadConfig } from '../config/load.js'
import { runUntilSignal } from './lifecycle.js'
import type { ProcessHost } from './lifecycle.js'

afterEach(() => {
  vi.useRealTimers()
})

function setup(close: () => Promise<void>) {
  const emitter = new EventEmitter()
  const exits: number[] = []
  const host: ProcessHost = { on: (event: string, listener: (arg: never) => void) => emitter.on(event, listener as (arg: unknown) => void), exit: (code) => void exits.push(code) }
  const lines: Array<{ msg: string }> = []
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as { msg: string })
      done()
    },
  })
  const broker = { nodeId: 'n', addresses: {}, readiness: () => ({ ready: true, checks: {} }), close } satisfies RunningBroker
  const config = loadConfig({ sets: ['server.shutdown_timeout=5s'] }).config
  runUntilSignal({ broker, logger: pino({ level: 'info' }, sink), config }, host)
  return { emitter, exits, lines }
}

describe('runUntilSignal', () => {
  it('closes gracefully on SIGTERM and exits 0', async () => {
    const close = vi.fn(() => Promise.resolve())
    const { emitter, exits } = setup(close)
    emitter.emit('SIGTERM', 'SIGTERM')
    await vi.waitFor(() => expect(exits).toEqual([0]))
    expect(close).toHaveBeenCalledTimes(1)
  })

  it('forces exit 1 when close outlasts server.shutdown_timeout', async () => {
    vi.useFakeTimers()
    const { emitter, exits, lines } = setup(() => new Promise(() => {}))
    emitter.emit('SIGINT', 'SIGINT')
    vi.advanceTimersByTime(4_999)
    expect(exits).toEqual([])
    vi.advanceTimersByTime(1)
    expect(exits).toEqual([1])
    expect(lines.at(-1)?.msg).toContain('server.shutdown_timeout')
  })

  it('exits 1 at once on a second signal', () => {
    const { emitter, exits } = setup(() => new Promise(() => {}))
    emitter.emit('SIGTERM', 'SIGTERM')
    emitter.emit('SIGTERM', 'SIGTERM')
    expect(exits).toEqual([1])
  })

  it('logs an uncaught exception as fatal and exits 1', () => {
    const { emitter, exits, lines } = setup(() => Promise.resolve())
    emitter.emit('uncaughtException', new Error('boom'))
    expect(exits).toEqual([1])
    expect(lines.at(-1)).toMatchObject({ level: 60, msg: 'uncaught exception', err: { message: 'boom' } })
  })
})
