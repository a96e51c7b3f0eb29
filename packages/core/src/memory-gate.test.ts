import { RecordingLogger } from '@fluxmq/testing'
import { describe, expect, it } from 'vitest'
import { MemoryGate } from './memory-gate.js'

class Waiter {
  released = 0
  memoryAvailable(): void {
    this.released++
  }
}

function gate(maxBytes: number): { gate: MemoryGate<Waiter>; logger: RecordingLogger; buffered: { bytes: number } } {
  const buffered = { bytes: 0 }
  const logger = new RecordingLogger()
  return { gate: new MemoryGate<Waiter>(maxBytes, () => buffered.bytes, logger, 'publishers paused'), logger, buffered }
}

/** A gate bounded at 1000 bytes holding two publishers, with the process at 2000. */
function twoHeld(): ReturnType<typeof gate> & { a: Waiter; b: Waiter } {
  const held = gate(1000)
  const [a, b] = [new Waiter(), new Waiter()]
  held.buffered.bytes = 2000
  held.gate.hold(a)
  held.gate.hold(b)
  return { ...held, a, b }
}

describe('MemoryGate', () => {
  it('holds a publisher only above the bound, and warns once for the first one held', () => {
    const { gate: g, logger, buffered } = gate(1000)
    const [a, b] = [new Waiter(), new Waiter()]
    buffered.bytes = 1000
    expect(g.hold(a)).toBe(false)
    buffered.bytes = 1001
    expect(g.hold(a)).toBe(true)
    expect(g.hold(b)).toBe(true)
    expect(g.holding).toBe(true)
    expect(g.pauses).toBe(2)
    expect(logger.lines).toEqual([{ level: 'warn', obj: { bufferedBytes: 1001, maxBufferedBytes: 1000 }, msg: 'publishers paused' }])
  })

  it('lets every held publisher go together once down to three quarters of the bound, not before', () => {
    const { gate: g, buffered, a, b } = twoHeld()
    buffered.bytes = 751
    expect(g.release(false)).toBe(false)
    expect([a.released, b.released]).toEqual([0, 0])
    buffered.bytes = 750
    expect(g.release(false)).toBe(true)
    expect([a.released, b.released]).toEqual([1, 1])
    expect(g.holding).toBe(false)
  })

  it('lets them go at once when the front shuts down, and never releases a forgotten one', () => {
    const { gate: g, a, b } = twoHeld()
    g.forget(b)
    expect(g.release(true)).toBe(true)
    expect([a.released, b.released]).toEqual([1, 0])
  })

  it('has no bound at 0', () => {
    const { gate: g, buffered } = gate(0)
    buffered.bytes = Number.MAX_SAFE_INTEGER
    expect(g.hold(new Waiter())).toBe(false)
    expect(g.pauses).toBe(0)
  })
})
