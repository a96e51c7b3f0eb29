import rhea from 'rhea'
import type { Message as AmqpMessage } from 'rhea'
import { describe, expect, it } from 'vitest'
import { decodeMessage } from './message-decoder.js'
import { toCoreMessage } from './message-map.js'

const NOW = 1_700_000_000_000

/** rhea's typed-value constructors used to build messages its encoder would not infer. */
const types = rhea.types as unknown as Record<string, (v: unknown) => unknown>

const encoded = (m: object): Buffer => rhea.message.encode(m as AmqpMessage)

const common: [string, Buffer][] = [
  ['a data section, no header or properties', encoded({ body: rhea.message.data_section(Buffer.from('hello')) })],
  ['an empty data section', encoded({ body: rhea.message.data_section(Buffer.alloc(0)) })],
  ['a data section above 255 bytes', encoded({ body: rhea.message.data_section(Buffer.alloc(1000, 3)), durable: true })],
  ['several data sections', encoded({ body: rhea.message.data_sections([Buffer.from('a'), Buffer.from('bc'), Buffer.from('def')]) })],
  ['a string value', encoded({ body: 'héllo' })],
  ['a binary value', encoded({ body: types.wrap_binary?.(Buffer.from([1, 2])) })],
  [
    'header and every property',
    encoded({
      body: rhea.message.data_section(Buffer.from('x')),
      durable: true,
      priority: 7,
      ttl: 5000,
      first_acquirer: true,
      delivery_count: 3,
      message_id: 'm-1',
      user_id: Buffer.from('user'),
      to: 'a/b',
      subject: 'greeting',
      reply_to: 'replies/1',
      correlation_id: 'req-1',
      content_type: 'text/plain',
      content_encoding: 'identity',
      absolute_expiry_time: new Date(NOW + 2000),
      creation_time: new Date(NOW),
      group_id: 'g',
      group_sequence: 9,
      reply_to_group_id: 'rg',
    }),
  ],
  ['a numeric message-id and a binary correlation-id', encoded({ body: 'x', message_id: 123456789, correlation_id: types.wrap_binary?.(Buffer.from([0xff])) })],
  ['a uuid message-id', encoded({ body: 'x', message_id: Buffer.alloc(16, 0xab) })],
  [
    'application properties of every primitive type',
    encoded({
      body: 'x',
      application_properties: {
        s: 'v',
        long: 'y'.repeat(300),
        i: 7,
        neg: -3,
        big: 5_000_000_000,
        d: 1.5,
        t: true,
        f: false,
        n: null,
        ts: new Date(NOW),
        b: Buffer.from('bin'),
        ub: types.wrap_ubyte?.(200),
        us: types.wrap_ushort?.(60000),
        sb: types.wrap_byte?.(-5),
        ss: types.wrap_short?.(-300),
        sl: types.wrap_long?.(-70000),
        fl: types.wrap_float?.(0.5),
        sym: types.wrap_symbol?.('sym'),
      },
    }),
  ],
  [
    'message annotations, delivery annotations and a footer (skipped)',
    encoded({
      body: rhea.message.data_section(Buffer.from('x')),
      message_annotations: { 'x-opt-a': 'v', 'x-opt-list': [1, 'two', null], 'x-opt-map': { k: 1 } },
      delivery_annotations: { 'x-d': 5 },
      footer: { hash: Buffer.from('h') },
    }),
  ],
]

describe('decodeMessage', () => {
  for (const [name, payload] of common) {
    it(`maps to the same core message as rhea's decoder: ${name}`, () => {
      const fast = decodeMessage(payload)
      expect(fast).toBeDefined()
      const reference = rhea.message.decode(payload) as unknown as AmqpMessage
      expect(toCoreMessage(fast as AmqpMessage, 't', 1, 'c', NOW)).toEqual(toCoreMessage(reference, 't', 1, 'c', NOW))
      expect((fast as AmqpMessage).to).toEqual(reference.to)
    })
  }

  const others: [string, Buffer][] = [
    ['a map value', encoded({ body: { a: 1 } })],
    ['a list value', encoded({ body: [1, 2] })],
    ['a null value', encoded({ body: null })],
    ['an amqp-sequence', encoded({ body: rhea.message.sequence_section([1, 2]) })],
    ['a list application property', encoded({ body: 'x', application_properties: { l: [1] } })],
    ['a ulong beyond 2^53', Buffer.concat([encoded({ body: 'x' }), Buffer.from([0x00, 0x53, 0x74, 0xd1, 0, 0, 0, 14, 0, 0, 0, 2, 0xa1, 1, 0x6b, 0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])])],
    ['a truncated message', encoded({ body: rhea.message.data_section(Buffer.from('hello')) }).subarray(0, 7)],
    ['a section that is not described', Buffer.from([0x45])],
    ['an unknown section', Buffer.from([0x00, 0x53, 0x7f, 0x45])],
  ]
  for (const [name, payload] of others) {
    it(`leaves to rhea: ${name}`, () => {
      expect(decodeMessage(payload)).toBeUndefined()
    })
  }

  it('on mutated messages: never throws, and what it decodes rhea decodes to the same core message', () => {
    const base = common.map(([, payload]) => payload)
    let seed = 12345
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed % n
    }
    for (let i = 0; i < 5000; i++) {
      const payload = Buffer.from(base[random(base.length)] as Buffer)
      for (let k = 0; k < 3; k++) if (payload.length > 0) payload[random(payload.length)] = random(256)
      const cut = payload.subarray(0, random(payload.length + 1))
      const fast = decodeMessage(cut)
      if (fast === undefined) continue
      const reference = rhea.message.decode(cut) as unknown as AmqpMessage
      expect(toCoreMessage(fast, 't', 1, 'c', NOW)).toEqual(toCoreMessage(reference, 't', 1, 'c', NOW))
    }
  })
})
