import { describe, expect, it } from 'vitest'
import type { Message } from '@fluxmq/core'
import { TransportErrorCode } from './errors.js'
import { packMessages, unpackMessages } from './packed.js'

const full: Message = {
  topic: 'a/ü/b',
  payload: Buffer.from([0, 1, 2, 255]),
  qos: 2,
  retain: true,
  properties: {
    payloadFormatIndicator: false,
    contentType: 'text/plain',
    responseTopic: 'r/1',
    correlationData: Buffer.from('corr'),
    userProperties: [
      ['k', 'v1'],
      ['k', 'v2'],
    ],
  },
  expiresAt: 1_800_000_000_123,
  publishedAt: 1_800_000_000_000,
  publisherId: 'pub-é',
}
const bare: Message = { topic: 't', payload: Buffer.alloc(0), qos: 0, retain: false, properties: {}, publishedAt: 1 }

describe('the packed batch encoding', () => {
  it('reads back every field of every message, and no key a message did not have', () => {
    const big = { ...bare, topic: 'x'.repeat(300), payload: Buffer.alloc(70_000, 9), qos: 1 as const, properties: { payloadFormatIndicator: true } }
    const { messages, routing } = unpackMessages(packMessages([full, bare, big], undefined))
    expect(messages).toStrictEqual([full, bare, big])
    expect(routing).toBeUndefined()
  })

  it('keeps routing aligned with its messages', () => {
    const packed = packMessages([bare, full, bare], [undefined, { otherNodes: ['n2', 'n3'], relayFor: 'c' }, { relayFor: 'd' }])
    expect(unpackMessages(packed).routing).toStrictEqual([undefined, { otherNodes: ['n2', 'n3'], relayFor: 'c' }, { relayFor: 'd' }])
  })

  it('refuses a truncated batch and an impossible QoS as protocol errors', () => {
    const packed = packMessages([full], undefined)
    for (const cut of [1, 5, packed.length - 1]) {
      expect(() => unpackMessages(packed.subarray(0, cut))).toThrow(expect.objectContaining({ code: TransportErrorCode.Protocol }))
    }
    const qos3 = Buffer.from(packMessages([bare], undefined))
    qos3[0] = 0x03
    expect(() => unpackMessages(qos3)).toThrow(/QoS 3/)
  })
})
