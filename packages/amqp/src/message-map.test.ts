import type { Delivery, Message } from '@fluxmq/core'
import rhea from 'rhea'
import type { Message as AmqpMessage } from 'rhea'
import { describe, expect, it } from 'vitest'
import { MESSAGE_ID_PROPERTY, SUBJECT_PROPERTY, toAmqpMessage, toCoreMessage } from './message-map.js'

const NOW = 1_700_000_000_000

/** The message as it crosses the wire: encoded and decoded by rhea. */
const wire = (message: object) => rhea.message.decode(rhea.message.encode(message)) as unknown as AmqpMessage

const delivery = (message: Message): Delivery => ({ message, qos: 1, retain: false, deliveryId: 0x10001, dup: false, received: false })

describe('AMQP -> core', () => {
  it('maps application-properties, content-type, correlation-id, reply-to, subject, message-id and a data body', () => {
    const m = toCoreMessage(
      wire({
        body: rhea.message.data_section(Buffer.from([1, 2, 3])),
        application_properties: { k: 'v', n: 7, b: true },
        content_type: 'application/octet-stream',
        correlation_id: 'req-1',
        reply_to: 'replies/1',
        subject: 'greeting',
        message_id: 'm-1',
      }),
      'a/b',
      1,
      'c/l',
      NOW,
    )
    expect(m).toMatchObject({ topic: 'a/b', qos: 1, retain: false, publishedAt: NOW, publisherId: 'c/l' })
    expect(m.payload).toEqual(Buffer.from([1, 2, 3]))
    expect(m.properties.contentType).toBe('application/octet-stream')
    expect(m.properties.correlationData?.toString()).toBe('req-1')
    expect(m.properties.responseTopic).toBe('replies/1')
    expect(m.properties.payloadFormatIndicator).toBeUndefined()
    expect(m.properties.userProperties).toEqual([
      [SUBJECT_PROPERTY, 'greeting'],
      [MESSAGE_ID_PROPERTY, 'm-1'],
      ['k', 'v'],
      ['n', '7'],
      ['b', 'true'],
    ])
  })

  it('an amqp-value string is UTF-8 text; other values and sequences become JSON', () => {
    const text = toCoreMessage(wire({ body: 'héllo' }), 't', 0, 'c', NOW)
    expect(text.payload.toString()).toBe('héllo')
    expect(text.properties.payloadFormatIndicator).toBe(true)
    expect(text.properties.contentType).toBeUndefined()
    const map = toCoreMessage(wire({ body: { a: 1, b: ['x'] } }), 't', 0, 'c', NOW)
    expect(JSON.parse(map.payload.toString())).toEqual({ a: 1, b: ['x'] })
    expect(map.properties.contentType).toBe('application/json')
    const sequence = toCoreMessage(wire({ body: rhea.message.sequence_section([1, 'two']) }), 't', 0, 'c', NOW)
    expect(JSON.parse(sequence.payload.toString())).toEqual([1, 'two'])
    const empty = toCoreMessage(wire({}), 't', 0, 'c', NOW)
    expect(empty.payload).toHaveLength(0)
  })

  it('several data sections are one payload', () => {
    const m = toCoreMessage(wire({ body: rhea.message.data_sections([Buffer.from('ab'), Buffer.from('cd')]) }), 't', 0, 'c', NOW)
    expect(m.payload.toString()).toBe('abcd')
  })

  it('expiry from ttl and absolute-expiry-time, whichever is sooner', () => {
    expect(toCoreMessage(wire({ body: 'x', ttl: 5000 }), 't', 0, 'c', NOW).expiresAt).toBe(NOW + 5000)
    expect(toCoreMessage(wire({ body: 'x', absolute_expiry_time: new Date(NOW + 1000) }), 't', 0, 'c', NOW).expiresAt).toBe(NOW + 1000)
    expect(toCoreMessage(wire({ body: 'x', ttl: 5000, absolute_expiry_time: new Date(NOW + 9000) }), 't', 0, 'c', NOW).expiresAt).toBe(NOW + 5000)
    expect(toCoreMessage(wire({ body: 'x' }), 't', 0, 'c', NOW).expiresAt).toBeUndefined()
  })
})

describe('core -> AMQP', () => {
  const core: Message = {
    topic: 'a/b',
    payload: Buffer.from('payload'),
    qos: 1,
    retain: false,
    properties: {
      contentType: 'text/plain',
      responseTopic: 'replies/1',
      correlationData: Buffer.from('req-1'),
      userProperties: [
        ['k', 'v'],
        [SUBJECT_PROPERTY, 'greeting'],
        [MESSAGE_ID_PROPERTY, 'm-1'],
      ],
    },
    expiresAt: NOW + 3000,
    publishedAt: NOW,
  }

  it('one data section and the properties back in their AMQP places', () => {
    const m = wire(toAmqpMessage(delivery(core), NOW))
    expect(Buffer.from(m.body.content as Buffer).toString()).toBe('payload')
    expect(m.body.typecode).toBe(0x75)
    expect(m).toMatchObject({ content_type: 'text/plain', reply_to: 'replies/1', correlation_id: 'req-1', subject: 'greeting', message_id: 'm-1', ttl: 3000, durable: true })
    expect(m.application_properties).toEqual({ k: 'v' })
    expect((m.absolute_expiry_time as Date).getTime()).toBe(NOW + 3000)
  })

  it('correlation data that is not UTF-8 goes as binary', () => {
    const binary = { ...core, properties: { correlationData: Buffer.from([0xff, 0xfe]) } }
    expect(wire(toAmqpMessage(delivery(binary), NOW)).correlation_id).toEqual(Buffer.from([0xff, 0xfe]))
  })
})

describe('encoded forms', () => {
  it('one encoding per QoS is shared by every delivery of a message; an expiring message is encoded per delivery', async () => {
    const { encodedMessage } = await import('./wire-forms.js')
    const message: Message = { topic: 't', payload: Buffer.from('x'), qos: 1, retain: false, properties: {}, publishedAt: NOW }
    const a = encodedMessage(delivery(message), NOW)
    expect(encodedMessage(delivery(message), NOW + 5)).toBe(a)
    const qos0 = encodedMessage({ ...delivery(message), qos: 0 }, NOW)
    expect(qos0).not.toBe(a)
    expect((rhea.message.decode(a) as unknown as AmqpMessage).durable).toBe(true)
    const expiring = { ...message, expiresAt: NOW + 1000 }
    const first = encodedMessage(delivery(expiring), NOW)
    const later = encodedMessage(delivery(expiring), NOW + 400)
    expect((rhea.message.decode(first) as unknown as AmqpMessage).ttl).toBe(1000)
    expect((rhea.message.decode(later) as unknown as AmqpMessage).ttl).toBe(600)
  })
})
