import type { Message } from '@fluxmq/core'
import { describe, expect, it } from 'vitest'
import { ByteWriter, MalformedMessageError, decodeMessage, encodeMessage } from './stored-message.js'

function roundTrip(message: Message): Message {
  const out = new ByteWriter(1)
  encodeMessage(out, message)
  return decodeMessage(out.bytes, 0, out.length)
}

const base: Message = { topic: 't', payload: Buffer.from('p'), qos: 1, retain: false, properties: {}, publishedAt: 1 }

describe('stored message encoding (version 1)', () => {
  it('round-trips a message with every property set', () => {
    const message: Message = {
      topic: 'a/b/c',
      payload: Buffer.from([0, 1, 2, 255]),
      qos: 2,
      retain: true,
      properties: {
        payloadFormatIndicator: true,
        contentType: 'application/json',
        responseTopic: 'reply/to',
        correlationData: Buffer.from([9, 8, 7]),
        userProperties: [
          ['k', 'v'],
          ['a', 'b'],
        ],
      },
      expiresAt: 1_800_000_000_123,
      publishedAt: 1_700_000_000_456,
      publisherId: 'publisher-1',
    }
    expect(roundTrip(message)).toEqual(message)
  })

  it('round-trips a message with no optional field, and adds none', () => {
    const decoded = roundTrip(base)
    expect(decoded).toEqual(base)
    expect(Object.keys(decoded).sort()).toEqual(['payload', 'properties', 'publishedAt', 'qos', 'retain', 'topic'])
    expect(decoded.properties).toEqual({})
  })

  it('keeps each QoS, retain, and a false payload format indicator apart from an absent one', () => {
    for (const qos of [0, 1, 2] as const) {
      for (const retain of [false, true]) expect(roundTrip({ ...base, qos, retain })).toEqual({ ...base, qos, retain })
    }
    expect(roundTrip({ ...base, properties: { payloadFormatIndicator: false } }).properties).toEqual({
      payloadFormatIndicator: false,
    })
  })

  it('round-trips unicode topics and strings', () => {
    const message: Message = {
      ...base,
      topic: 'capteurs/température/北京/🚀',
      publisherId: 'émetteur-😀',
      properties: { contentType: 'text/plain; charset=ü', responseTopic: 'répondre/€', userProperties: [['ключ', 'значение 🎉']] },
    }
    expect(roundTrip(message)).toEqual(message)
  })

  it('round-trips strings whose first non-ASCII character comes late, short and long', () => {
    for (const topic of ['a'.repeat(63) + 'é', 'a'.repeat(64) + '€', 'b'.repeat(200) + '😀', 'c'.repeat(65)]) {
      expect(roundTrip({ ...base, topic }).topic).toBe(topic)
    }
  })

  it('round-trips an empty payload, empty correlation data, an empty user property list and empty strings', () => {
    const message: Message = {
      ...base,
      payload: Buffer.alloc(0),
      publisherId: '',
      properties: { contentType: '', correlationData: Buffer.alloc(0), userProperties: [] },
    }
    expect(roundTrip(message)).toEqual(message)
  })

  it('keeps user property order and duplicate names', () => {
    const userProperties = [
      ['z', '1'],
      ['a', '2'],
      ['z', '3'],
      ['z', '3'],
    ] as const
    expect(roundTrip({ ...base, properties: { userProperties } }).properties.userProperties).toEqual(userProperties)
  })

  it('keeps expiry and publish times exactly, up to 2^53 ms', () => {
    const decoded = roundTrip({ ...base, expiresAt: Number.MAX_SAFE_INTEGER, publishedAt: 0 })
    expect(decoded.expiresAt).toBe(Number.MAX_SAFE_INTEGER)
    expect(decoded.publishedAt).toBe(0)
  })

  it('never writes the adapter cache `wire`', () => {
    expect('wire' in roundTrip({ ...base, wire: { mqtt5: Buffer.from('x') } })).toBe(false)
  })

  it('decodes messages written one after another into one buffer, each from its own range', () => {
    const out = new ByteWriter(8)
    const first = { ...base, topic: 'first', payload: Buffer.alloc(100, 1) }
    const second = { ...base, topic: 'second', publisherId: 'x' }
    encodeMessage(out, first)
    const split = out.length
    encodeMessage(out, second)
    expect(decodeMessage(out.bytes, 0, split)).toEqual(first)
    expect(decodeMessage(out.bytes, split, out.length)).toEqual(second)
  })

  it('decoded payloads are copies that do not share the encoded buffer', () => {
    const out = new ByteWriter(64)
    encodeMessage(out, base)
    const decoded = decodeMessage(out.bytes, 0, out.length)
    out.bytes.fill(0)
    expect(decoded.payload.toString()).toBe('p')
  })

  it('rejects a truncated message, trailing bytes and QoS 3', () => {
    const out = new ByteWriter(64)
    encodeMessage(out, base)
    expect(() => decodeMessage(out.bytes, 0, out.length - 1)).toThrow(MalformedMessageError)
    const padded = Buffer.concat([out.bytes.subarray(0, out.length), Buffer.alloc(1)])
    expect(() => decodeMessage(padded, 0, padded.length)).toThrow(/after the payload/)
    const qos3 = Buffer.from(out.bytes.subarray(0, out.length))
    qos3[0] = (qos3[0] ?? 0) | 0b11
    expect(() => decodeMessage(qos3, 0, qos3.length)).toThrow(/QoS 3/)
  })
})
