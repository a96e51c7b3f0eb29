import { afterEach, describe, expect, it } from 'vitest'
import { QueueErrorCode } from './errors.js'
import { Harness, message, userProperty } from './test-support/harness.js'

let h: Harness
afterEach(() => h.dispose())

/** Publishes `$queue/orders/<key>` (no key: `$queue/orders`) with the key as payload, and commits. */
function publish(...keys: (string | undefined)[]): void {
  for (const key of keys) {
    const topic = key === undefined ? '$queue/orders' : `$queue/orders/${key}`
    h.engine.publish(topic, message(topic, key ?? '(none)'))
  }
  h.commit()
}

describe('QueueEngine: routing-key filters ($queue/<name>/<filter>, SPEC §4)', () => {
  it('a filtering consumer gets the messages whose routing key matches, with MQTT wildcards', () => {
    h = new Harness()
    h.engine.attach({ consumerId: 'eu', queue: 'orders', group: 'workers', filter: 'eu/+' })
    h.engine.attach({ consumerId: 'paid', queue: 'orders', group: 'workers', filter: '+/paid/#' })
    h.engine.attach({ consumerId: 'all', queue: 'orders', group: 'workers', filter: '#' })
    for (const id of ['eu', 'paid', 'all']) h.engine.grant(id, 100)
    publish('eu/new', 'eu/paid', 'us/paid/card', 'eu/paid/x', 'us/new', undefined)
    expect(h.take('eu')).toEqual(['eu/new', 'eu/paid'])
    expect(h.take('paid')).toEqual(['eu/paid', 'us/paid/card', 'eu/paid/x'])
    // `#` takes every message, one without a routing key too.
    expect(h.take('all')).toEqual(['eu/new', 'eu/paid', 'us/paid/card', 'eu/paid/x', 'us/new', '(none)'])
  })

  it('consumers with the same group name and filter compete; the group id carries the filter', () => {
    h = new Harness()
    h.engine.attach({ consumerId: 'a', queue: 'orders', group: 'workers', filter: 'eu/#' })
    h.engine.attach({ consumerId: 'b', queue: 'orders', group: 'workers', filter: 'eu/#' })
    h.engine.attach({ consumerId: 'plain', queue: 'orders', group: 'workers' })
    for (const id of ['a', 'b', 'plain']) h.engine.grant(id, 10)
    publish('eu/1', 'us/1', 'eu/2')
    expect(h.take('a')).toEqual(['eu/1'])
    const [second] = h.takeDeliveries('b')
    expect(second?.group).toBe('workers@eu/#')
    expect(second === undefined ? undefined : userProperty(second, 'group-id')).toBe('workers@eu/#')
    expect(h.take('plain')).toEqual(['eu/1', 'us/1', 'eu/2'])
    expect(h.engine.stats('orders')?.groups.map((group) => group.name)).toEqual(['workers@eu/#', 'workers'])
    // Settled by message id in the group the delivery named.
    h.engine.settleMessage({ messageId: second?.messageId ?? '', group: 'workers@eu/#', outcome: 'accepted' })
    expect(() => h.engine.settleMessage({ messageId: second?.messageId ?? '', group: 'workers@us/#', outcome: 'accepted' })).toThrow(
      expect.objectContaining({ code: QueueErrorCode.WrongGroup }),
    )
  })

  it('a filtering group settles what it skips: its committed offset moves and the log is truncated', () => {
    h = new Harness({ recentBytesPerQueue: 0 })
    h.engine.attach({ consumerId: 'c', queue: 'orders', filter: 'rare' })
    h.engine.grant('c', 1)
    publish(...Array.from({ length: 300 }, (_, i) => (i === 150 ? 'rare' : `common/${i}`)))
    const [rare] = h.takeDeliveries('c')
    expect(rare?.offset).toBe(150)
    h.engine.settle('c', rare?.deliveryId ?? 0, 'accepted')
    // Skipping is reading: the group reads on (and skips the rest) once it has credit again.
    h.engine.grant('c', 1)
    h.engine.tick()
    h.commit()
    expect(h.engine.stats('orders')).toMatchObject({ depth: 0, groups: [{ name: 'default@rare', committedOffset: 300, backlog: 0 }] })
  })

  it('matches a captured publish on its whole topic', () => {
    h = new Harness({ queues: [{ name: 'orders', topics: ['shop/#'] }] })
    h.engine.attach({ consumerId: 'c', queue: 'orders', filter: 'shop/+/paid' })
    h.engine.grant('c', 10)
    for (const topic of ['shop/eu/paid', 'shop/eu/new', 'shop/us/paid']) h.engine.publish(topic, message(topic, topic))
    h.commit()
    expect(h.take('c')).toEqual(['shop/eu/paid', 'shop/us/paid'])
  })

  it('keeps a filtering group, and its filter, across a restart', () => {
    h = new Harness()
    h.engine.attach({ consumerId: 'c', queue: 'orders', filter: 'eu/#' })
    h.engine.grant('c', 10)
    publish('eu/1', 'us/1')
    expect(h.take('c')).toEqual(['eu/1'])
    h.restart()
    publish('us/2', 'eu/2')
    h.engine.attach({ consumerId: 'c', queue: 'orders', filter: 'eu/#' })
    h.engine.grant('c', 10)
    // eu/1 was never settled: delivered again, then only the new eu message.
    expect(h.take('c')).toEqual(['eu/1', 'eu/2'])
  })

  it('refuses an invalid filter, and a group id that is not one, changing nothing', () => {
    h = new Harness()
    for (const filter of ['eu/#/x', 'eu+', '$share/g/eu', '$ack', '']) {
      expect(() => h.engine.attach({ consumerId: 'c', queue: 'orders', filter })).toThrow(expect.objectContaining({ code: QueueErrorCode.InvalidFilter }))
    }
    expect(h.engine.stats('orders')).toBeUndefined()
    publish('eu/1')
    for (const group of ['default@#', 'default@eu+', 'bad name@eu']) {
      expect(() => h.engine.settleMessage({ messageId: 'orders:0', group, outcome: 'accepted' })).toThrow(expect.objectContaining({ code: expect.stringMatching(/INVALID_(GROUP|FILTER)/) }))
    }
  })
})
