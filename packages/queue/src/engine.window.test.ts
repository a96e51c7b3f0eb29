import { afterEach, describe, expect, it } from 'vitest'
import { Harness } from './test-support/harness.js'

let h: Harness
afterEach(() => h.dispose())

const TIMEOUT = 30_000

/** Each consumer's credit and unsettled count, as the stats report them. */
function window(): Record<string, [credit: number, unsettled: number]> {
  const consumers = h.engine.stats('q')?.groups.flatMap((group) => group.consumers) ?? []
  return Object.fromEntries(consumers.map((consumer) => [consumer.id, [consumer.credit, consumer.unsettled]]))
}

function messageIds(consumerId: string): string[] {
  return h.takeDeliveries(consumerId).map((delivery) => delivery.messageId)
}

/** Window consumers a and b; a has credit 1 and holds q:0, which it will never settle. */
function aHoldsOneNeverSettled(): void {
  h = new Harness({ queues: [{ name: 'q', visibilityTimeoutMs: TIMEOUT }] })
  h.engine.attach({ consumerId: 'a', queue: 'q', window: true })
  h.engine.attach({ consumerId: 'b', queue: 'q', window: true })
  h.engine.grant('a', 1)
  h.fill('q', 1)
  expect(messageIds('a')).toEqual(['q:0'])
}

describe('QueueEngine: credit as a window of unsettled deliveries (manual ack)', () => {
  it('a never-settled message that the visibility timeout redelivers elsewhere gives its credit back to the consumer that held it', () => {
    aHoldsOneNeverSettled()
    h.engine.grant('b', 1)
    expect(window()).toEqual({ a: [0, 1], b: [1, 0] })
    // a never settles q:0: the timeout hands it to b (next in the round-robin), and a has its credit again.
    h.now += TIMEOUT
    h.engine.tick()
    expect(h.takeDeliveries('b').map((delivery) => [delivery.messageId, delivery.deliveryCount])).toEqual([['q:0', 2]])
    expect(window()).toEqual({ a: [1, 0], b: [0, 1] })
    h.fill('q', 1, 'next')
    expect(messageIds('a')).toEqual(['q:1'])
  })

  it('a late settlement of a message redelivered elsewhere frees the holder’s credit, once', () => {
    aHoldsOneNeverSettled()
    h.engine.grant('b', 2)
    h.now += TIMEOUT
    h.engine.tick()
    expect(messageIds('b')).toEqual(['q:0'])
    // a's $ack comes after the timeout: it settles the message b now holds, and b gets the credit.
    h.engine.settleMessage({ messageId: 'q:0', group: 'default', outcome: 'accepted' })
    expect(window()).toEqual({ a: [1, 0], b: [2, 0] })
    expect(h.engine.stats('q')?.groups[0]?.committedOffset).toBe(1)
  })

  it('every way a delivery ends gives the credit back: credit + unsettled stays what was granted', () => {
    h = new Harness({ queues: [{ name: 'q', visibilityTimeoutMs: TIMEOUT, maxDeliveries: 2 }], nackBackoff: { initialMs: 0, maxMs: 0 } })
    h.engine.attach({ consumerId: 'a', queue: 'q', window: true })
    h.engine.attach({ consumerId: 'b', queue: 'q', window: true })
    h.engine.grant('a', 3)
    h.engine.grant('b', 3)
    h.fill('q', 20)
    const outcomes = ['accepted', 'modified', 'rejected', 'released'] as const
    for (let round = 0; round < 6; round++) {
      for (const consumerId of ['a', 'b']) {
        for (const [i, delivery] of h.takeDeliveries(consumerId).entries()) {
          // Some are settled by delivery id, some by message id, some never (left to the timeout).
          if (i === 2) continue
          const outcome = outcomes[(round + i) % outcomes.length] ?? 'accepted'
          if (i === 0) h.engine.settle(consumerId, delivery.deliveryId, outcome)
          else h.engine.settleMessage({ messageId: delivery.messageId, group: 'default', outcome })
        }
      }
      // What the settlements delivered anew times out below too: the next round settles what the tick delivers.
      h.deliveries.length = 0
      h.now += TIMEOUT
      h.engine.tick()
      for (const [credit, unsettled] of Object.values(window())) expect(credit + unsettled).toBe(3)
    }
  })

  it('without window, credit is spent per delivery and comes back only by grant (AMQP link credit)', () => {
    h = new Harness({ queues: [{ name: 'q', visibilityTimeoutMs: TIMEOUT }] })
    h.engine.attach({ consumerId: 'a', queue: 'q' })
    h.engine.grant('a', 1)
    h.fill('q', 2)
    expect(messageIds('a')).toEqual(['q:0'])
    h.engine.settleMessage({ messageId: 'q:0', group: 'default', outcome: 'accepted' })
    h.now += TIMEOUT
    h.engine.tick()
    expect(window()).toEqual({ a: [0, 0] })
    expect(h.take('a')).toEqual([])
  })
})
