import { describe, expect, it } from 'vitest'
import { parseCursor } from './cursor.js'
import { QueueErrorCode } from './errors.js'
import { formatMessageId, parseMessageId, queueOfTopic, settlementOfTopic, splitMessageId } from './names.js'

describe('names', () => {
  it('round-trips message ids, dead-letter queues included', () => {
    for (const [queue, offset] of [
      ['orders', 0],
      ['$dlq/orders', 42],
      ['a.b_c-d', Number.MAX_SAFE_INTEGER],
    ] as const) {
      expect(parseMessageId(formatMessageId(queue, offset))).toEqual({ queue, offset })
    }
  })

  it('refuses message ids that are not <queue>:<offset>', () => {
    for (const id of ['', 'orders', ':1', 'orders:', 'orders:-1', 'orders:1e3', 'or ders:1', 'orders:99999999999999999']) {
      expect(() => parseMessageId(id), id).toThrow(expect.objectContaining({ code: QueueErrorCode.InvalidMessageId }))
    }
  })

  it('splits a message id checking its offset, not its queue name (the caller looks the queue up)', () => {
    expect(splitMessageId('or ders:17')).toEqual({ queue: 'or ders', offset: 17 })
    expect(splitMessageId(formatMessageId('q', Number.MAX_SAFE_INTEGER))).toEqual({ queue: 'q', offset: Number.MAX_SAFE_INTEGER })
    for (const id of ['', 'orders', ':1', 'orders:', 'orders:-1', 'orders:1e3', 'orders:1 ', 'orders:99999999999999999', 'orders:9007199254740992']) {
      expect(() => splitMessageId(id), id).toThrow(expect.objectContaining({ code: QueueErrorCode.InvalidMessageId }))
    }
  })

  it('reads the queue of a $queue/ topic', () => {
    expect(queueOfTopic('$queue/orders')).toBe('orders')
    expect(queueOfTopic('$queue/orders/eu/high')).toBe('orders')
    expect(queueOfTopic('orders')).toBeUndefined()
    expect(queueOfTopic('$queues/orders')).toBeUndefined()
  })

  it('tells settlement topics from publishes', () => {
    expect(['$queue/q/$ack', '$queue/q/$nack', '$queue/q/$reject'].map(settlementOfTopic)).toEqual([
      { queue: 'q', outcome: 'accepted' },
      { queue: 'q', outcome: 'modified' },
      { queue: 'q', outcome: 'rejected' },
    ])
    for (const topic of ['$queue/q', '$queue/q/ack', '$queue/q/$ack/x', 'q/$ack']) expect(settlementOfTopic(topic), topic).toBeUndefined()
    for (const topic of ['$queue/q/$ack', '$queue/q/$other/key']) {
      expect(() => queueOfTopic(topic), topic).toThrow(expect.objectContaining({ code: QueueErrorCode.ReservedTopic }))
    }
    expect(queueOfTopic('$queue/q/key/$x')).toBe('q')
  })

  it('parses every cursor kind', () => {
    expect(['first', 'last', '0', '17', 'timestamp=1700000000000'].map(parseCursor)).toEqual([
      { kind: 'first' },
      { kind: 'last' },
      { kind: 'offset', offset: 0 },
      { kind: 'offset', offset: 17 },
      { kind: 'timestamp', at: 1_700_000_000_000 },
    ])
  })
})
