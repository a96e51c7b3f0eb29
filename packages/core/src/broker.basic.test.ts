import { describe, expect, it } from 'vitest'
import { connect, createWorld } from './test-support/harness.js'

describe('Broker: connect, subscribe, publish', () => {
  it('delivers QoS 0, 1 and 2 to a subscriber and completes the acknowledgement flows', async () => {
    const w = await createWorld()
    const sub = await connect(w, 'sub')
    const pub = await connect(w, 'pub')
    expect(sub.subscribe('a/+', 2).codes).toEqual([2])

    expect(pub.publish('a/b', 'zero', 0).reason).toBe('accepted')
    expect(pub.publish('a/b', 'one', 1).reason).toBe('accepted')
    expect(pub.publish('a/b', 'two', 2).reason).toBe('accepted')
    const got = sub.link.take()
    expect(got.map((r) => [r.payload, r.qos])).toEqual([
      ['zero', 0],
      ['one', 1],
      ['two', 2],
    ])
    const [, one, two] = got
    expect(one?.deliveryId).toBeGreaterThan(0)
    expect(two?.deliveryId).not.toBe(one?.deliveryId)
    expect(w.broker.stats.inflightCurrent).toBe(2)
    expect(w.broker.settle(sub.handle, one?.deliveryId ?? 0, 'accepted')).toBe(true)
    expect(w.broker.settle(sub.handle, two?.deliveryId ?? 0, 'accepted')).toBe(false)
    expect(w.broker.received(sub.handle, two?.deliveryId ?? 0)).toBe(true)
    expect(w.broker.settle(sub.handle, two?.deliveryId ?? 0, 'accepted')).toBe(true)
    expect(w.broker.stats.inflightCurrent).toBe(0)
  })

  it('answers no_subscribers when nobody matched', async () => {
    const w = await createWorld()
    const pub = await connect(w, 'pub')
    expect(pub.publish('nobody/here', 'x', 1).reason).toBe('no_subscribers')
  })

  it('runs a thousand clients through connect, subscribe and a fan-out without sockets or sleeps', async () => {
    const w = await createWorld()
    const clients = []
    for (let i = 0; i < 1000; i++) {
      const c = await connect(w, `c${i}`)
      c.subscribe(`room/${i % 10}/#`, 1)
      clients.push(c)
    }
    const pub = await connect(w, 'pub')
    expect(pub.publish('room/3/msg', 'hi', 1).reason).toBe('accepted')
    const receivers = clients.filter((c) => c.link.take().length === 1)
    expect(receivers.map((c) => c.id)).toEqual(clients.filter((_, i) => i % 10 === 3).map((c) => c.id))
    expect(w.broker.stats).toMatchObject({ connectionsCurrent: 1001, subscriptionsCurrent: 1000, inflightCurrent: 100 })
  })
})
