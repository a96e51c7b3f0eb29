import { describe, expect, it } from 'vitest'
import { droppedMessages } from './metrics.mjs'

describe('droppedMessages', () => {
  it('sums the samples by reason', () => {
    const text = [
      '# HELP fluxmq_messages_dropped_total Messages dropped',
      '# TYPE fluxmq_messages_dropped_total counter',
      'fluxmq_messages_dropped_total{reason="queue_full"} 5',
      'fluxmq_messages_dropped_total{node="a",reason="expired"} 2',
      'fluxmq_messages_dropped_totally 9',
    ].join('\n')
    expect(droppedMessages(text)).toEqual({ total: 7, byReason: { queue_full: 5, expired: 2 } })
  })

  it('has no breakdown for a metric without the reason label, and nothing when the metric is absent', () => {
    expect(droppedMessages('fluxmq_messages_dropped_total 3\n')).toEqual({ total: 3, byReason: null })
    expect(droppedMessages('fluxmq_messages_sent_total 3\n')).toBeNull()
  })
})
