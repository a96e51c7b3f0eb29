import { afterEach, describe, expect, it } from 'vitest'
import { DeadLetterProperty } from './delivery.js'
import { QueueErrorCode } from './errors.js'
import { Harness, T0, userProperty } from './test-support/harness.js'

let h: Harness
afterEach(() => h.dispose())

function ids(consumerId: string): number[] {
  return h.takeDeliveries(consumerId).map((delivery) => delivery.deliveryId)
}

describe('QueueEngine: settlement', () => {
  it('accepted acknowledges: never delivered again, the committed offset moves', () => {
    h = new Harness()
    h.fill('q', 3)
    h.engine.attach({ consumerId: 'c', queue: 'q' })
    h.engine.grant('c', 3)
    const [a, b, c] = ids('c')
    h.engine.settle('c', b as number, 'accepted')
    expect(h.engine.stats('q')?.groups[0]?.committedOffset).toBe(0)
    h.engine.settle('c', a as number, 'accepted')
    h.engine.settle('c', c as number, 'accepted')
    expect(h.engine.stats('q')).toMatchObject({ pending: 0, counters: { acks: 3 }, groups: [{ committedOffset: 3 }] })
    h.now += 10 * 60_000
    h.engine.tick()
    expect(h.deliveries).toEqual([])
  })

  it('modified (nack) redelivers after an exponential backoff, possibly to the same consumer', () => {
    h = new Harness({ nackBackoff: { initialMs: 1000, maxMs: 3000 } })
    h.fill('q', 1)
    h.engine.attach({ consumerId: 'c', queue: 'q' })
    h.engine.grant('c', 10)
    const waits: number[] = []
    for (let delivery = 1; delivery <= 4; delivery++) {
      const [current] = h.takeDeliveries('c')
      expect(current?.deliveryCount).toBe(delivery)
      h.engine.settle('c', current?.deliveryId as number, 'modified')
      const nackedAt = h.now
      for (;;) {
        h.now += 250
        h.engine.tick()
        if (h.deliveries.length > 0) break
      }
      waits.push(h.now - nackedAt)
    }
    expect(waits).toEqual([1000, 2000, 3000, 3000])
    expect(h.engine.stats('q')?.counters).toMatchObject({ nacks: 4, redeliveries: 4, deliveries: 5 })
  })

  it('released returns the message at once without counting the delivery', () => {
    h = new Harness({ queues: [{ name: 'q', maxDeliveries: 2 }] })
    h.fill('q', 1)
    h.engine.attach({ consumerId: 'c', queue: 'q' })
    h.engine.grant('c', 10)
    for (let i = 0; i < 5; i++) {
      const [current] = h.takeDeliveries('c')
      expect(current?.deliveryCount).toBe(1)
      h.engine.settle('c', current?.deliveryId as number, 'released')
    }
    expect(h.engine.stats('$dlq/q')).toBeUndefined()
  })

  it('rejected moves the message to $dlq/<name> at once, with its history', () => {
    h = new Harness()
    h.fill('q', 2)
    h.engine.attach({ consumerId: 'c', queue: 'q', group: 'billing' })
    h.engine.grant('c', 1)
    h.now = T0 + 5
    h.engine.settle('c', ids('c')[0] as number, 'rejected', 'bad order')
    h.commit()
    h.engine.grant('c', 1)
    expect(h.take('c')).toEqual(['m1'])
    expect(h.engine.stats('q')).toMatchObject({ counters: { deadLettered: 1 }, groups: [{ committedOffset: 1 }] })
    h.engine.attach({ consumerId: 'inspector', queue: '$dlq/q' })
    h.engine.grant('inspector', 10)
    const [dead] = h.takeDeliveries('inspector')
    expect(dead?.message.topic).toBe('t/m0')
    expect(dead?.messageId).toBe('$dlq/q:0')
    expect(Object.fromEntries((dead?.message.properties.userProperties ?? []).filter(([name]) => name.startsWith('dlq-')))).toEqual({
      [DeadLetterProperty.MessageId]: 'q:0',
      [DeadLetterProperty.GroupId]: 'billing',
      [DeadLetterProperty.Queue]: 'q',
      [DeadLetterProperty.Offset]: '0',
      [DeadLetterProperty.DeliveryCount]: '1',
      [DeadLetterProperty.Cause]: 'rejected',
      [DeadLetterProperty.Reason]: 'bad order',
      [DeadLetterProperty.At]: String(T0 + 5),
    })
    expect(dead === undefined ? undefined : userProperty(dead, 'source-topic')).toBe('t/m0')
  })

  it('moves a message to the dead-letter queue once max_deliveries is reached', () => {
    h = new Harness({ queues: [{ name: 'q', maxDeliveries: 3 }], nackBackoff: { initialMs: 0, maxMs: 0 } })
    h.fill('q', 1)
    h.engine.attach({ consumerId: 'c', queue: 'q' })
    h.engine.grant('c', 10)
    for (let i = 0; i < 3; i++) h.engine.settle('c', ids('c')[0] as number, 'modified', 'cannot parse')
    h.commit()
    expect(h.deliveries).toEqual([])
    expect(h.engine.stats('q')?.counters).toMatchObject({ deliveries: 3, nacks: 3, deadLettered: 1 })
    h.engine.attach({ consumerId: 'dlq', queue: '$dlq/q' })
    h.engine.grant('dlq', 1)
    const [dead] = h.takeDeliveries('dlq')
    expect(dead === undefined ? [] : [userProperty(dead, DeadLetterProperty.Cause), userProperty(dead, DeadLetterProperty.DeliveryCount), userProperty(dead, DeadLetterProperty.Reason)]).toEqual([
      'max-deliveries',
      '3',
      'cannot parse',
    ])
  })

  it('returns an unsettled message after the visibility timeout, to another member, counted', () => {
    h = new Harness({ queues: [{ name: 'q', visibilityTimeoutMs: 30_000 }] })
    h.fill('q', 1)
    h.engine.attach({ consumerId: 'a', queue: 'q' })
    h.engine.grant('a', 1)
    const [lost] = ids('a')
    h.engine.attach({ consumerId: 'b', queue: 'q' })
    h.engine.grant('b', 1)
    h.now += 29_999
    h.engine.tick()
    expect(h.deliveries).toEqual([])
    h.now += 1
    h.engine.tick()
    const [again] = h.takeDeliveries('b')
    expect(again?.deliveryCount).toBe(2)
    expect(h.engine.stats('q')?.counters.timeouts).toBe(1)
    expect(() => h.engine.settle('a', lost as number, 'accepted')).toThrow(expect.objectContaining({ code: QueueErrorCode.UnknownDelivery }))
  })

  it('a detached consumer’s deliveries stay pending until their timeout and can be settled by message id', () => {
    h = new Harness({ queues: [{ name: 'q', visibilityTimeoutMs: 1000 }] })
    h.fill('q', 2)
    h.engine.attach({ consumerId: 'c', queue: 'q', group: 'g' })
    h.engine.grant('c', 2)
    const delivered = h.takeDeliveries('c')
    h.engine.detach('c')
    expect(h.engine.stats('q')?.pending).toBe(2)
    h.engine.settleMessage({ messageId: delivered[0]?.messageId as string, group: 'g', outcome: 'accepted' })
    h.engine.attach({ consumerId: 'c2', queue: 'q', group: 'g' })
    h.engine.grant('c2', 5)
    expect(h.deliveries).toEqual([])
    h.now += 1000
    h.engine.tick()
    expect(h.takeDeliveries('c2').map((delivery) => [delivery.offset, delivery.deliveryCount])).toEqual([[1, 2]])
  })

  it('detach with release returns the deliveries at once', () => {
    h = new Harness()
    h.fill('q', 2)
    h.engine.attach({ consumerId: 'a', queue: 'q' })
    h.engine.grant('a', 2)
    h.engine.attach({ consumerId: 'b', queue: 'q' })
    h.engine.grant('b', 5)
    h.deliveries.length = 0
    h.engine.detach('a', { release: true })
    expect(h.takeDeliveries('b').map((delivery) => [delivery.offset, delivery.deliveryCount])).toEqual([
      [0, 1],
      [1, 1],
    ])
  })

  it('settles by message id and group (manual ack), with typed errors for bad input', () => {
    h = new Harness()
    h.fill('q', 2)
    h.engine.attach({ consumerId: 'c', queue: 'q', group: 'g1' })
    h.engine.attach({ consumerId: 'd', queue: 'q', group: 'g2' })
    h.engine.grant('c', 1)
    const code = (fn: () => void): unknown => {
      try {
        fn()
      } catch (error) {
        return (error as { code?: unknown }).code
      }
      return 'no error'
    }
    expect(code(() => h.engine.settleMessage({ messageId: 'q-0', group: 'g1', outcome: 'accepted' }))).toBe(QueueErrorCode.InvalidMessageId)
    expect(code(() => h.engine.settleMessage({ messageId: 'q:x', group: 'g1', outcome: 'accepted' }))).toBe(QueueErrorCode.InvalidMessageId)
    expect(code(() => h.engine.settleMessage({ messageId: 'q:0', group: 'no/such', outcome: 'accepted' }))).toBe(QueueErrorCode.InvalidGroup)
    expect(code(() => h.engine.settleMessage({ messageId: 'q:0', group: 'g2', outcome: 'accepted' }))).toBe(QueueErrorCode.WrongGroup)
    expect(code(() => h.engine.settleMessage({ messageId: 'q:0', group: 'g3', outcome: 'accepted' }))).toBe(QueueErrorCode.WrongGroup)
    expect(code(() => h.engine.settleMessage({ messageId: 'q:1', group: 'g1', outcome: 'accepted' }))).toBe(QueueErrorCode.UnknownMessage)
    expect(code(() => h.engine.settleMessage({ messageId: 'other:0', group: 'g1', outcome: 'accepted' }))).toBe(QueueErrorCode.UnknownMessage)
    expect(code(() => h.engine.settle('c', 99, 'accepted'))).toBe(QueueErrorCode.UnknownDelivery)
    expect(code(() => h.engine.settle('nobody', 1, 'accepted'))).toBe(QueueErrorCode.UnknownConsumer)
    expect(code(() => h.engine.grant('c', -1))).toBe(QueueErrorCode.InvalidCredit)
    expect(code(() => h.engine.attach({ consumerId: 'c', queue: 'q' }))).toBe(QueueErrorCode.ConsumerExists)
    // None of it disturbed the pending message.
    h.engine.settleMessage({ messageId: 'q:0', group: 'g1', outcome: 'accepted' })
    expect(h.engine.stats('q')?.groups.find((group) => group.name === 'g1')).toMatchObject({ pending: 0, committedOffset: 1 })
    expect(code(() => h.engine.settleMessage({ messageId: 'q:0', group: 'g1', outcome: 'accepted' }))).toBe(QueueErrorCode.UnknownMessage)
  })
})
