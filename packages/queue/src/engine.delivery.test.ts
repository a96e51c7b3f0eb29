import { afterEach, describe, expect, it } from 'vitest'
import { DeliveryProperty } from './delivery.js'
import { Harness, T0, message, userProperty } from './test-support/harness.js'

let h: Harness
afterEach(() => h.dispose())

describe('QueueEngine: appends and deliveries', () => {
  it('gives monotonic offsets per queue and delivers only what is committed', () => {
    h = new Harness()
    expect([0, 1, 2].map((i) => h.engine.append('orders', message('orders/new', `o${i}`)).offset)).toEqual([0, 1, 2])
    expect(h.engine.append('audit', message('audit', 'a0')).offset).toBe(0)
    h.engine.attach({ consumerId: 'c1', queue: 'orders' })
    h.engine.grant('c1', 10)
    expect(h.take()).toEqual([])
    h.commit()
    expect(h.take('c1')).toEqual(['o0', 'o1', 'o2'])
  })

  it('carries the stored message and the SPEC §4 delivery properties', () => {
    h = new Harness()
    const correlationData = Buffer.from([1, 2, 3])
    h.engine.append(
      'orders',
      message('orders/eu/1', 'body', {
        qos: 2,
        publisherId: 'pub-1',
        properties: { contentType: 'application/json', responseTopic: 'reply/1', correlationData, payloadFormatIndicator: true, userProperties: [['k', 'v'], ['k', 'w']] },
      }),
    )
    h.commit()
    h.engine.attach({ consumerId: 'c1', queue: 'orders', group: 'billing' })
    h.engine.grant('c1', 1)
    const [delivery] = h.takeDeliveries('c1')
    expect(delivery).toMatchObject({ queue: 'orders', group: 'billing', offset: 0, messageId: 'orders:0', deliveryCount: 1 })
    expect(delivery?.message).toMatchObject({
      topic: 'orders/eu/1',
      qos: 2,
      publisherId: 'pub-1',
      publishedAt: T0,
      properties: { contentType: 'application/json', responseTopic: 'reply/1', correlationData, payloadFormatIndicator: true },
    })
    expect(delivery?.message.properties.userProperties).toEqual([
      ['k', 'v'],
      ['k', 'w'],
      [DeliveryProperty.MessageId, 'orders:0'],
      [DeliveryProperty.GroupId, 'billing'],
      [DeliveryProperty.Queue, 'orders'],
      [DeliveryProperty.Offset, '0'],
      [DeliveryProperty.DeliveryCount, '1'],
      [DeliveryProperty.SourceTopic, 'orders/eu/1'],
    ])
  })

  it('never hands a consumer more unsettled messages than its credit', () => {
    h = new Harness()
    h.fill('q', 10)
    h.engine.attach({ consumerId: 'c1', queue: 'q' })
    h.engine.grant('c1', 3)
    expect(h.take('c1')).toEqual(['m0', 'm1', 'm2'])
    h.engine.settle('c1', 1, 'accepted')
    expect(h.take('c1')).toEqual([])
    h.engine.grant('c1', 2)
    expect(h.take('c1')).toEqual(['m3', 'm4'])
    expect(h.engine.stats('q')?.groups[0]?.consumers).toEqual([{ id: 'c1', credit: 0, unsettled: 4 }])
  })

  it('delivers first deliveries in FIFO order per queue', () => {
    h = new Harness()
    h.engine.attach({ consumerId: 'c1', queue: 'q' })
    h.engine.grant('c1', 1000)
    for (let batch = 0; batch < 5; batch++) h.fill('q', 50, `b${batch}-`)
    const expected = [0, 1, 2, 3, 4].flatMap((batch) => Array.from({ length: 50 }, (_, i) => `b${batch}-${i}`))
    expect(h.take('c1')).toEqual(expected)
  })

  it('splits a group round-robin among members with credit (competing consumers)', () => {
    h = new Harness()
    h.engine.attach({ consumerId: 'a', queue: 'q', group: 'workers' })
    h.engine.attach({ consumerId: 'b', queue: 'q', group: 'workers' })
    h.engine.grant('a', 100)
    h.engine.grant('b', 100)
    h.fill('q', 10)
    expect(h.deliveries.map((delivery) => delivery.consumerId)).toEqual(['a', 'b', 'a', 'b', 'a', 'b', 'a', 'b', 'a', 'b'])
    expect(h.take('a')).toEqual(['m0', 'm2', 'm4', 'm6', 'm8'])
    expect(h.take('b')).toEqual(['m1', 'm3', 'm5', 'm7', 'm9'])
  })

  it('fans out: every group gets every message', () => {
    h = new Harness()
    h.engine.attach({ consumerId: 'a', queue: 'q', group: 'g1' })
    h.engine.attach({ consumerId: 'b', queue: 'q', group: 'g2' })
    h.engine.grant('a', 10)
    h.engine.grant('b', 10)
    h.fill('q', 3)
    expect(h.take('a')).toEqual(['m0', 'm1', 'm2'])
    expect(h.take('b')).toEqual(['m0', 'm1', 'm2'])
  })

  it('a slow member without credit never blocks the others of its group or other groups', () => {
    h = new Harness()
    h.engine.attach({ consumerId: 'slow', queue: 'q', group: 'g' })
    h.engine.attach({ consumerId: 'fast', queue: 'q', group: 'g' })
    h.engine.attach({ consumerId: 'other', queue: 'q', group: 'g2' })
    h.engine.grant('slow', 1)
    h.engine.grant('fast', 1)
    h.engine.grant('other', 1)
    h.onDeliver = (delivery) => {
      if (delivery.consumerId === 'slow') return
      h.engine.settle(delivery.consumerId, delivery.deliveryId, 'accepted')
      h.engine.grant(delivery.consumerId, 1)
    }
    h.fill('q', 200)
    expect(h.take('slow')).toEqual(['m0'])
    expect(h.take('fast')).toHaveLength(199)
    expect(h.take('other')).toHaveLength(200)
    const stats = h.engine.stats('q')
    expect(stats?.groups.map((group) => [group.name, group.pending, group.committedOffset])).toEqual([
      ['g', 1, 0],
      ['g2', 0, 200],
    ])
  })

  it('accepts settlements and credit from inside the deliver callback (auto-ack consumers)', () => {
    h = new Harness()
    h.engine.attach({ consumerId: 'auto', queue: 'q' })
    h.onDeliver = (delivery) => {
      h.engine.settle('auto', delivery.deliveryId, 'accepted')
      h.engine.grant('auto', 1)
    }
    h.engine.grant('auto', 1)
    h.fill('q', 500)
    expect(h.take('auto')).toHaveLength(500)
    expect(h.engine.stats('q')).toMatchObject({ pending: 0, counters: { deliveries: 500, acks: 500 } })
  })

  it('skips expired messages and counts them', () => {
    h = new Harness()
    h.engine.append('q', message('t', 'expired', { expiresAt: T0 - 1 }))
    h.engine.append('q', message('t', 'fresh', { expiresAt: T0 + 60_000 }))
    h.engine.append('q', message('t', 'forever'))
    h.commit()
    h.engine.attach({ consumerId: 'c', queue: 'q' })
    h.engine.grant('c', 10)
    expect(h.take('c')).toEqual(['fresh', 'forever'])
    expect(h.engine.stats('q')?.counters.expired).toBe(1)
    // An expired message is settled for the group: the committed offset moves past it.
    expect(h.engine.stats('q')?.groups[0]?.committedOffset).toBe(1)
  })

  it('reads the log in bounded batches: a consumer with little credit never loads the queue', () => {
    h = new Harness({ recentBytesPerQueue: 0 })
    h.fill('q', 2000)
    h.engine.attach({ consumerId: 'c', queue: 'q' })
    h.engine.grant('c', 5)
    expect(h.take('c')).toEqual(['m0', 'm1', 'm2', 'm3', 'm4'])
    expect(h.engine.stats('q')).toMatchObject({ depth: 2000, pending: 5, groups: [{ nextOffset: 5, backlog: 1995 }] })
  })

  it('the delivery-count property follows the delivery', () => {
    h = new Harness({ nackBackoff: { initialMs: 0, maxMs: 0 } })
    h.fill('q', 1)
    h.engine.attach({ consumerId: 'c', queue: 'q' })
    h.engine.grant('c', 2)
    const first = h.takeDeliveries('c')[0]
    h.engine.settle('c', first?.deliveryId ?? 0, 'modified')
    const second = h.takeDeliveries('c')[0]
    expect(second === undefined ? undefined : userProperty(second, 'delivery-count')).toBe('2')
  })
})
