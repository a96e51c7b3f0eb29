import { describe, expect, it } from 'vitest'
import { Outgoing } from './outgoing.js'
import { SessionQueue } from './session-queue.js'
import { Stats } from './stats.js'

const outgoing = (payload: string, qos: 0 | 1): Outgoing =>
  new Outgoing({ topic: 't', payload: Buffer.from(payload), qos, retain: false, properties: {}, publishedAt: 0 }, qos, false, undefined)

describe('SessionQueue', () => {
  it('weighs what it holds in stats.queuedBytes and gives it all back', () => {
    const stats = new Stats()
    const q = new SessionQueue(stats)
    q.push(outgoing('one', 1))
    q.push(outgoing('two', 1))
    q.hold(outgoing('zero', 0))
    expect([q.queued, q.heldQos0]).toEqual([2, 1])
    expect(stats.queuedBytes).toBeGreaterThan(3 * 192)
    expect(q.shift()?.message.payload.toString()).toBe('one')
    expect(q.shiftHeld()?.message.payload.toString()).toBe('zero')
    expect(q.dropHeld()).toBe(0)
    q.clear()
    expect(stats.queuedBytes).toBe(0)
  })

  it('a stored session going offline keeps its head in Storage only (storedTail)', () => {
    const stats = new Stats()
    const q = new SessionQueue(stats)
    q.push(outgoing('a', 1))
    q.storedTail = 3
    q.spill()
    expect(q.storedTail).toBe(4)
    expect(q.queued).toBe(4)
    expect([...q.inMemory()]).toEqual([])
    expect(stats.queuedBytes).toBe(0)
  })
})
