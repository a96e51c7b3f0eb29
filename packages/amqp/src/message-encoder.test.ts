import type { Delivery, Message, MessageProperties, QoS } from '@fluxmq/core'
import rhea from 'rhea'
import { describe, expect, it } from 'vitest'
import { encodeMessage } from './message-encoder.js'
import { MESSAGE_ID_PROPERTY, SUBJECT_PROPERTY, toAmqpMessage } from './message-map.js'

const NOW = 1_700_000_000_000

function delivery(payload: Buffer, properties: MessageProperties, qos: QoS, expiresAt?: number): Delivery {
  const message: Message = { topic: 't', payload, qos, retain: false, properties, publishedAt: NOW, ...(expiresAt === undefined ? {} : { expiresAt }) }
  return { message, qos, retain: false, deliveryId: 1, dup: false, received: false }
}

const long = 'x'.repeat(300)
const cases: [string, Delivery][] = [
  ['an empty payload at QoS 0: empty header and properties', delivery(Buffer.alloc(0), {}, 0)],
  ['a 64-byte payload at QoS 1 (durable)', delivery(Buffer.alloc(64, 7), {}, 1)],
  ['a payload above 255 bytes (vbin32)', delivery(Buffer.alloc(70_000, 1), {}, 1)],
  ['content-type alone (a symbol at its place, nulls before it)', delivery(Buffer.from('a'), { contentType: 'text/plain' }, 0)],
  ['reply-to and UTF-8 correlation data', delivery(Buffer.from('a'), { responseTopic: 'replies/1', correlationData: Buffer.from('req-1') }, 1)],
  ['binary correlation data', delivery(Buffer.from('a'), { correlationData: Buffer.from([0xff, 0xfe, 0]) }, 1)],
  [
    'subject, message-id and application properties (a repeated name keeps its last value, numeric names first)',
    delivery(Buffer.from('a'), { userProperties: [[SUBJECT_PROPERTY, 'greeting'], [MESSAGE_ID_PROPERTY, 'm-1'], ['k', 'v'], ['n', 'é'], ['k', 'w'], ['7', 'seven']] }, 1),
  ],
  ['strings above 255 bytes (str32, sym32)', delivery(Buffer.from('a'), { contentType: long, responseTopic: long, userProperties: [[long, long]] }, 1)],
  ['multi-byte UTF-8 text', delivery(Buffer.from('a'), { responseTopic: 'réponses/ü', userProperties: [['clé', 'välue']] }, 0)],
  ['an expiring message: ttl and absolute-expiry-time', delivery(Buffer.from('a'), { contentType: 'x' }, 1, NOW + 3000)],
  ['an expiring message at QoS 0: ttl after a null durable', delivery(Buffer.from('a'), {}, 0, NOW + 70_000_000)],
]

describe('encodeMessage', () => {
  for (const [name, d] of cases) {
    it(`writes what rhea's message.encode writes: ${name}`, () => {
      const message = toAmqpMessage(d, NOW)
      expect(encodeMessage(message).toString('hex')).toBe(rhea.message.encode(message).toString('hex'))
    })
  }

  it('gives each message its own buffer (the scratch space is reused)', () => {
    const a = encodeMessage(toAmqpMessage(delivery(Buffer.from('first'), {}, 1), NOW))
    const copy = Buffer.from(a)
    encodeMessage(toAmqpMessage(delivery(Buffer.from('second message'), { contentType: 'y' }, 1), NOW))
    expect(a).toEqual(copy)
  })
})
