import { EventEmitter } from 'node:events'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { RunningBroker } from '../app.js'
import { Lifecycle } from './lifecycle.js'
import type { ProcessHost } from './lifecycle.js'

afterEach(() => {
  vi.useRealTimers()
})

function broker(close: () => Promise<void>, reload: () => string[] = () => []): RunningBroker {
  return { nodeId: 'n', addresses: {}, readiness: () => ({ ready: true, checks: {} }), reload, close }
}

function setup() {
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
  const lifecycle = new Lifecycle(pino({ level: 'info' }, sink), 5_000, host)
  return { lifecycle, emitter, exits, lines }
}

describe('Lifecycle', () => {
  it('reloads the auth files on SIGHUP and keeps serving, also when the reload fails', () => {
    const reload = vi.fn(() => ['auth.password_file'])
    const { lifecycle, emitter, exits, lines } = setup()
    emitter.emit('SIGHUP', 'SIGHUP')
    expect(lines.at(-1)?.msg).toBe('SIGHUP ignored: the broker is starting or stopping')
    lifecycle.started(broker(() => Promise.resolve(), reload))
    emitter.emit('SIGHUP', 'SIGHUP')
    expect(reload).toHaveBeenCalledTimes(1)
    expect(lines.at(-1)?.msg).toBe('SIGHUP: reloaded auth.password_file')
    reload.mockImplementation(() => {
      throw new Error('auth.acl_file: acl:3: unknown access "rw"')
    })
    emitter.emit('SIGHUP', 'SIGHUP')
    expect(lines.at(-1)).toMatchObject({ msg: 'SIGHUP: reload failed, the previous auth files stay in force', err: { message: 'auth.acl_file: acl:3: unknown access "rw"' } })
    expect(exits).toEqual([])
  })

  it('closes gracefully on SIGTERM and exits 0', async () => {
    const close = vi.fn(() => Promise.resolve())
    const { lifecycle, emitter, exits } = setup()
    lifecycle.started(broker(close))
    emitter.emit('SIGTERM', 'SIGTERM')
    await vi.waitFor(() => expect(exits).toEqual([0]))
    expect(close).toHaveBeenCalledTimes(1)
  })

  it('keeps a signal that arrives during start-up and closes once started', async () => {
    const close = vi.fn(() => Promise.resolve())
    const { lifecycle, emitter, exits } = setup()
    emitter.emit('SIGINT', 'SIGINT')
    expect(close).not.toHaveBeenCalled()
    lifecycle.started(broker(close))
    await vi.waitFor(() => expect(exits).toEqual([0]))
    expect(close).toHaveBeenCalledTimes(1)
  })

  it('forces exit 1 when close outlasts server.shutdown_timeout, counted from the signal', () => {
    vi.useFakeTimers()
    const { lifecycle, emitter, exits, lines } = setup()
    emitter.emit('SIGTERM', 'SIGTERM')
    vi.advanceTimersByTime(3_000)
    lifecycle.started(broker(() => new Promise(() => {})))
    vi.advanceTimersByTime(1_999)
    expect(exits).toEqual([])
    vi.advanceTimersByTime(1)
    expect(exits).toEqual([1])
    expect(lines.at(-1)?.msg).toContain('server.shutdown_timeout')
  })

  it('exits 1 at once on a second signal', () => {
    const { lifecycle, emitter, exits } = setup()
    lifecycle.started(broker(() => new Promise(() => {})))
    emitter.emit('SIGTERM', 'SIGTERM')
    emitter.emit('SIGTERM', 'SIGTERM')
    expect(exits).toEqual([1])
  })

  it('exits 1 when close fails', async () => {
    const { lifecycle, emitter, exits, lines } = setup()
    lifecycle.started(broker(() => Promise.reject(new Error('disk gone'))))
    emitter.emit('SIGTERM', 'SIGTERM')
    await vi.waitFor(() => expect(exits).toEqual([1]))
    expect(lines.at(-1)).toMatchObject({ msg: 'shutdown failed', err: { message: 'disk gone' } })
  })

  it('logs an uncaught exception as fatal and exits 1', () => {
    const { emitter, exits, lines } = setup()
    emitter.emit('uncaughtException', new Error('boom'))
    expect(exits).toEqual([1])
    expect(lines.at(-1)).toMatchObject({ level: 60, msg: 'uncaught exception', err: { message: 'boom' } })
  })

  it('still exits on a second signal and at the timeout when writing the log line throws', () => {
    vi.useFakeTimers()
    const emitter = new EventEmitter()
    const exits: number[] = []
    const host: ProcessHost = { on: (event: string, listener: (arg: never) => void) => emitter.on(event, listener as (arg: unknown) => void), exit: (code) => void exits.push(code) }
    let broken = false
    const failing = { write: () => {
      if (broken) throw Object.assign(new Error('stdout is gone'), { code: 'EIO' })
    } }
    const lifecycle = new Lifecycle(pino({ level: 'info' }, failing), 1_000, host)
    lifecycle.started(broker(() => new Promise(() => {})))
    emitter.emit('SIGTERM', 'SIGTERM')
    broken = true
    expect(() => emitter.emit('SIGTERM', 'SIGTERM')).toThrow('stdout is gone')
    expect(() => vi.advanceTimersByTime(1_000)).toThrow('stdout is gone')
    expect(exits).toEqual([1, 1])
  })
})
