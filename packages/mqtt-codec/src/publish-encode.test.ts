import { generate } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { CodecError, CodecErrorCode } from './errors.js'
import type { ProtocolVersion } from './protocol.js'
import { encodePublish, stampPacketId, type PublishFields } from './publish-encode.js'
import { referenceParse } from './test-support/fixtures.js'
import { randomPublish } from './test-support/random-publish.js'
import { Random, seedFromEnv } from './test-support/random.js'

function reference(fields: PublishFields, version: ProtocolVersion): Buffer {
  const { packetId, ...rest } = fields
  return generate({ cmd: 'publish', ...rest, ...(packetId === undefined ? {} : { messageId: packetId }) }, { protocolVersion: version })
}

describe('encodePublish', () => {
  it('is byte-identical to mqtt-packet generate for 3,000 random publishes (seeded)', () => {
    const seed = seedFromEnv()
    const random = new Random(seed)
    for (let i = 0; i < 3000; i++) {
      const version = random.pick([3, 4, 5] as const)
      const fields = randomPublish(random, true)
      const ours = encodePublish(fields, version)
      const theirs = reference(fields, version)
      if (!ours.equals(theirs)) throw new Error(`seed ${seed}, case ${i}: encodePublish differs from mqtt-packet for ${JSON.stringify(fields).slice(0, 500)}`)
    }
  }, 30_000)

  it('encodes property strings around the hand-copied ASCII length like mqtt-packet', () => {
    const texts = ['', 'a'.repeat(48), 'a'.repeat(49), `${'a'.repeat(47)}é`, `é${'a'.repeat(47)}`, '😀', 'a€b']
    for (const text of texts) {
      const fields: PublishFields = {
        topic: 't',
        payload: Buffer.alloc(0),
        qos: 0,
        retain: false,
        dup: false,
        properties: { contentType: text, userProperties: { [text || 'k']: [text, `${text}x`], other: text } },
      }
      expect(encodePublish(fields, 5)).toEqual(reference(fields, 5))
    }
  })

  it('ignores properties before MQTT 5, as mqtt-packet does', () => {
    const fields: PublishFields = { topic: 'a', payload: Buffer.from('x'), qos: 0, retain: false, dup: false, properties: { topicAlias: 1 } }
    expect(encodePublish(fields, 4)).toEqual(Buffer.from([0x30, 4, 0, 1, 0x61, 0x78]))
  })

  it('encodes an empty userProperties map as no user properties (mqtt-packet returns an empty buffer)', () => {
    const fields: PublishFields = { topic: 'a', payload: Buffer.alloc(0), qos: 0, retain: false, dup: false, properties: { userProperties: {} } }
    expect(reference(fields, 5).length).toBe(0)
    expect(encodePublish(fields, 5)).toEqual(Buffer.from([0x30, 4, 0, 1, 0x61, 0]))
  })

  it('[MQTT-2.2.1-3] refuses QoS 1/2 without a packet identifier in 1..65535', () => {
    for (const packetId of [undefined, 0, 65536, 1.5]) {
      const fields = { topic: 'a', payload: Buffer.alloc(0), qos: 1, retain: false, dup: false, packetId } as PublishFields
      expect(() => encodePublish(fields, 4)).toThrow(CodecError)
    }
  })

  it('refuses invalid fields with FLUXMQ_ERR_MQTT_INVALID_PACKET_TO_ENCODE', () => {
    const base: PublishFields = { topic: 'a', payload: Buffer.alloc(0), qos: 0, retain: false, dup: false }
    const invalid: unknown[] = [
      { ...base, qos: 3 },
      { ...base, topic: 'x'.repeat(65536) },
      { ...base, properties: { topicAlias: 70000 } },
      { ...base, properties: { payloadFormatIndicator: 1 } },
      { ...base, properties: { subscriptionIdentifier: 268435456 } },
      { ...base, properties: { sessionExpiryInterval: 1 } },
      { ...base, properties: { contentType: 'x'.repeat(65536) } },
    ]
    for (const fields of invalid) {
      try {
        encodePublish(fields as PublishFields, 5)
        throw new Error(`accepted ${JSON.stringify(fields).slice(0, 80)}`)
      } catch (error) {
        expect(error).toBeInstanceOf(CodecError)
        expect((error as CodecError).code).toBe(CodecErrorCode.InvalidPacketToEncode)
      }
    }
  })
})

describe('stampPacketId', () => {
  it('gives the bytes encodePublish gives for that packet identifier and DUP flag (seeded)', () => {
    const seed = seedFromEnv()
    const random = new Random(seed)
    for (let i = 0; i < 500; i++) {
      const version = random.pick([4, 5] as const)
      const fields = { ...randomPublish(random, true), qos: random.pick([1, 2] as const), packetId: random.int(1, 0xffff) }
      const template = encodePublish(fields, version)
      const packetId = random.int(1, 0xffff)
      const dup = random.bool()
      const stamped = stampPacketId(template, packetId, dup)
      const expected = encodePublish({ ...fields, packetId, dup }, version)
      if (!stamped.equals(expected)) throw new Error(`seed ${seed}, case ${i}: stamped PUBLISH differs`)
    }
  }, 30_000)

  it('leaves the template untouched and parses as the stamped packet', () => {
    const template = encodePublish({ topic: 'x/y', payload: Buffer.from('p'), qos: 2, retain: true, dup: false, packetId: 1 }, 5)
    const copy = Buffer.from(template)
    const stamped = stampPacketId(template, 0xbeef, true)
    expect(template.equals(copy)).toBe(true)
    const connect = generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'c', clean: true, keepalive: 0 })
    const [, parsed] = referenceParse(Buffer.concat([connect, stamped]), 5)
    expect(parsed).toMatchObject({ cmd: 'publish', messageId: 0xbeef, dup: true, qos: 2, retain: true, topic: 'x/y' })
  })

  it('refuses a QoS 0 PUBLISH, another packet type, a truncated template and an invalid identifier', () => {
    const qos0 = encodePublish({ topic: 'a', payload: Buffer.alloc(0), qos: 0, retain: false, dup: false }, 4)
    const qos1 = encodePublish({ topic: 'a', payload: Buffer.alloc(0), qos: 1, retain: false, dup: false, packetId: 1 }, 4)
    expect(() => stampPacketId(qos0, 1, false)).toThrow(CodecError)
    expect(() => stampPacketId(Buffer.from([0x40, 2, 0, 1]), 1, false)).toThrow(CodecError)
    expect(() => stampPacketId(qos1.subarray(0, 5), 1, false)).toThrow(CodecError)
    expect(() => stampPacketId(Buffer.alloc(0), 1, false)).toThrow(CodecError)
    expect(() => stampPacketId(qos1, 0, false)).toThrow(CodecError)
  })
})
