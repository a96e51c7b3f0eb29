import { describe, expect, it } from 'vitest'
import { connect, createWorld } from './test-support/harness.js'

const persistent = { cleanStart: false, expiry: 3600 }

describe('Broker flow control: deliveries under the link credit', () => {
  it('QoS 0 without credit waits in the session and goes out in order when credit comes back', async () => {
    const w = await createWorld()
    const c = await connect(w, 'c')
    c.subscribe('t', 0)
    const pub = await connect(w, 'p')
    c.link.credit = 1
    for (let i = 0; i < 4; i++) pub.publish('t', `m${i}`, 0)
    expect(c.link.take().map((r) => r.payload)).toEqual(['m0'])
    // Payload, topic and the objects a queued delivery holds.
    expect(w.broker.stats.queuedBytes).toBe(3 * (2 + 1 + 192))
    c.link.credit = 2
    w.broker.creditAvailable(c.handle)
    expect(c.link.take().map((r) => r.payload)).toEqual(['m1', 'm2'])
    // A new message does not overtake the one still waiting.
    pub.publish('t', 'm4', 0)
    expect(c.link.take()).toEqual([])
    c.link.credit = Infinity
    w.broker.creditAvailable(c.handle)
    expect(c.link.take().map((r) => r.payload)).toEqual(['m3', 'm4'])
    expect(w.broker.stats.queuedBytes).toBe(0)
    expect(w.broker.stats.messagesDropped).toBe(0)
  })

  it('QoS 0 over a full queue is dropped and counted as queue_full; the client stays connected', async () => {
    const w = await createWorld({ maxOfflineMessages: 3 })
    const c = await connect(w, 'c')
    c.subscribe('t', 0)
    const pub = await connect(w, 'p')
    c.link.credit = 0
    for (let i = 0; i < 10; i++) pub.publish('t', `m${i}`, 0)
    expect(w.broker.stats.droppedByReason.queue_full).toBe(7)
    expect(w.broker.stats.messagesDropped).toBe(7)
    expect(c.link.closed).toBeUndefined()
    c.link.credit = Infinity
    w.broker.creditAvailable(c.handle)
    expect(c.link.take().map((r) => r.payload)).toEqual(['m0', 'm1', 'm2'])
  })

  it('a QoS 0 publisher whose messages reach nobody (every queue full) is slowed down; one that still reaches a subscriber is not', async () => {
    const w = await createWorld({ maxOfflineMessages: 2 })
    const slow = await connect(w, 'slow')
    slow.subscribe('t', 0)
    const pub = await connect(w, 'p')
    slow.link.credit = 0
    pub.publish('t', 'm0', 0)
    pub.publish('t', 'm1', 0)
    const r = pub.publish('t', 'm2', 0)
    expect(r.backpressure).toBeInstanceOf(Promise)
    const fast = await connect(w, 'fast')
    fast.subscribe('t', 0)
    expect(pub.publish('t', 'm3', 0).backpressure).toBeUndefined()
    expect(w.broker.stats.droppedByReason.queue_full).toBe(2)
    let released = false
    void r.backpressure?.then(() => (released = true))
    slow.link.credit = Infinity
    w.broker.creditAvailable(slow.handle)
    await Promise.resolve()
    expect(released).toBe(true)
  })

  it('QoS 1 within the window but without credit waits and is sent when credit comes back', async () => {
    const w = await createWorld()
    const c = await connect(w, 'c')
    c.subscribe('t', 1)
    const pub = await connect(w, 'p')
    c.link.credit = 0
    pub.publish('t', 'a', 1)
    pub.publish('t', 'b', 0)
    expect(c.link.take()).toEqual([])
    expect(w.broker.stats.inflightCurrent).toBe(0)
    c.link.credit = Infinity
    w.broker.creditAvailable(c.handle)
    expect(c.link.take().map((r) => [r.payload, r.qos])).toEqual([
      ['a', 1],
      ['b', 0],
    ])
    expect(w.broker.stats.inflightCurrent).toBe(1)
  })

  it('QoS 0 keeps flowing under credit while QoS 1 waits for the Receive Maximum window', async () => {
    const w = await createWorld()
    const c = await connect(w, 'c', { receiveMaximum: 1 })
    c.subscribe('t', 1)
    const pub = await connect(w, 'p')
    pub.publish('t', 'a', 1)
    pub.publish('t', 'b', 1)
    pub.publish('t', 'x', 0)
    expect(c.link.take().map((r) => r.payload)).toEqual(['a', 'x'])
  })

  it('a held QoS 0 message gives way to QoS 1 when the queue is full', async () => {
    const w = await createWorld({ maxOfflineMessages: 2 })
    const c = await connect(w, 'c')
    c.subscribe('t', 1)
    const pub = await connect(w, 'p')
    c.link.credit = 0
    pub.publish('t', 'z0', 0)
    pub.publish('t', 'z1', 0)
    const r = pub.publish('t', 'q', 1)
    expect(r.backpressure).toBeUndefined()
    expect(w.broker.stats.droppedByReason.queue_full).toBe(1)
    c.link.credit = Infinity
    w.broker.creditAvailable(c.handle)
    expect(c.link.take().map((m) => m.payload).sort()).toEqual(['q', 'z1'])
  })

  it('backpressure is released when the congested subscriber goes offline; its offline policy applies from then on', async () => {
    const w = await createWorld({ maxOfflineMessages: 2 })
    const c = await connect(w, 'c', persistent)
    c.subscribe('t', 1)
    const pub = await connect(w, 'p')
    c.link.credit = 0
    pub.publish('t', 'm0', 1)
    pub.publish('t', 'm1', 1)
    const r = pub.publish('t', 'm2', 1)
    expect(r.backpressure).toBeInstanceOf(Promise)
    c.disconnect()
    await r.backpressure
    expect(w.broker.stats.messagesDropped).toBe(0)
    const r2 = pub.publish('t', 'm3', 1)
    expect(r2.backpressure).toBeUndefined()
    expect(w.broker.stats.droppedByReason.queue_full).toBe(1)
    expect(w.broker.stats.queuedBytes).toBe(0)
  })

  it('a client that publishes to its own full queue is not paused (it would stop reading its own PUBACKs)', async () => {
    const w = await createWorld({ maxOfflineMessages: 1 })
    const c = await connect(w, 'c')
    c.subscribe('t', 1)
    c.link.credit = 0
    for (let i = 0; i < 3; i++) expect(c.publish('t', `m${i}`, 1).backpressure).toBeUndefined()
    expect(w.broker.stats.messagesDropped).toBe(0)
    c.link.credit = Infinity
    w.broker.creditAvailable(c.handle)
    expect(c.link.take().map((r) => r.payload)).toEqual(['m0', 'm1', 'm2'])
  })

  it('QoS 0 waiting for credit is dropped as disconnected when the client goes away', async () => {
    const w = await createWorld()
    const c = await connect(w, 'c', persistent)
    c.subscribe('t', 1)
    const pub = await connect(w, 'p')
    c.link.credit = 0
    pub.publish('t', 'a', 0)
    pub.publish('t', 'b', 1)
    c.disconnect()
    expect(w.broker.stats.droppedByReason.disconnected).toBe(1)
    expect(w.broker.stats.queuedBytes).toBe(0)
    const back = await connect(w, 'c', persistent)
    await Promise.resolve()
    expect(back.link.take().map((r) => r.payload)).toEqual(['b'])
  })

  it('a shared subscriber without credit gets the message queued like any other', async () => {
    const w = await createWorld()
    const a = await connect(w, 'a')
    a.subscribe('$share/g/t', 1)
    const pub = await connect(w, 'p')
    a.link.credit = 0
    pub.publish('t', 'm', 1)
    a.link.credit = Infinity
    w.broker.creditAvailable(a.handle)
    expect(a.link.take().map((r) => r.payload)).toEqual(['m'])
  })
})
