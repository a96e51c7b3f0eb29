import type { Message } from '@fluxmq/core'
import { describe, expect, it } from 'vitest'
import { ReadAhead } from './read-ahead.js'

const message = (topic: string, size = 1): Message => ({
  topic,
  payload: Buffer.alloc(size),
  qos: 1,
  retain: false,
  properties: {},
  publishedAt: 0,
})
const topics = (messages: readonly Message[] | undefined): string[] | undefined => messages?.map((m) => m.topic)

describe('ReadAhead', () => {
  it('serves takes from the kept messages only at the head it was kept for, and only whole', () => {
    const ahead = new ReadAhead()
    ahead.keep('c', 10, [message('a'), message('b'), message('c')])
    expect(topics(ahead.take('c', 10, 2))).toEqual(['a', 'b'])
    expect(ahead.take('c', 11, 1)).toBeUndefined()
    expect(ahead.take('c', 10, 4)).toBeUndefined()
    expect(ahead.take('other', 10, 1)).toBeUndefined()
  })

  it('follows the head as it advances and drops what falls below it', () => {
    const ahead = new ReadAhead()
    ahead.keep('c', 10, [message('a'), message('b'), message('c')])
    ahead.advanced('c', 12)
    expect(topics(ahead.take('c', 12, 1))).toEqual(['c'])
    ahead.advanced('c', 13)
    expect(ahead.take('c', 13, 1)).toBeUndefined()
  })

  it('keeps no more payload bytes than its budget, and nothing of a message over it', () => {
    const ahead = new ReadAhead()
    ahead.keep('c', 0, [message('a', 200 * 1024), message('b', 100 * 1024)])
    expect(topics(ahead.take('c', 0, 1))).toEqual(['a'])
    expect(ahead.take('c', 0, 2)).toBeUndefined()
    ahead.keep('d', 0, [message('big', 300 * 1024)])
    expect(ahead.take('d', 0, 1)).toBeUndefined()
  })

  it('forgets a queue, and the least recently kept one beyond 256 queues', () => {
    const ahead = new ReadAhead()
    ahead.keep('gone', 0, [message('x')])
    ahead.forget('gone')
    expect(ahead.take('gone', 0, 1)).toBeUndefined()
    for (let i = 0; i <= 256; i++) ahead.keep(`q${i}`, 0, [message(`m${i}`)])
    expect(ahead.take('q0', 0, 1)).toBeUndefined()
    expect(topics(ahead.take('q256', 0, 1))).toEqual(['m256'])
    expect(topics(ahead.take('q1', 0, 1))).toEqual(['m1'])
  })
})
