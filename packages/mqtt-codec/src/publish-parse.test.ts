import type { Packet } from 'mqtt-packet'
import { generate } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { MqttParser } from './parser.js'
import { encodePublish } from './publish-encode.js'
import { referenceParse } from './test-support/fixtures.js'
import { randomPublish } from './test-support/random-publish.js'
import { Random, seedFromEnv } from './test-support/random.js'

describe('hand-written PUBLISH parse', () => {
  it('agrees with mqtt-packet on 2,000 random publishes in random chunks (seeded)', () => {
    const seed = seedFromEnv()
    const random = new Random(seed)
    for (const version of [3, 4, 5] as const) {
      const connect = generate({ cmd: 'connect', protocolId: version === 3 ? 'MQIsdp' : 'MQTT', protocolVersion: version, clientId: 'c', clean: true, keepalive: 0 })
      const frames: Buffer[] = [connect]
      for (let i = 0; i < 700; i++) {
        const fields = randomPublish(random, true)
        // A client never sends a Subscription Identifier [MQTT-3.3.4-6]; mqtt-packet's user property
        // merge drops a repeated key whose first value is '' (it tests truthiness), so avoid ''.
        if (fields.properties !== undefined) {
          delete fields.properties.subscriptionIdentifier
          const pairs = fields.properties.userProperties
          if (pairs !== undefined) for (const key of Object.keys(pairs)) if (pairs[key] === '' || Array.isArray(pairs[key])) pairs[key] = 'v'
        }
        frames.push(encodePublish(fields, version))
      }
      const stream = Buffer.concat(frames)
      const parser = new MqttParser({ maxPacketSize: 1024 * 1024 })
      const parsed: Packet[] = []
      for (let at = 0; at < stream.length; ) {
        const size = random.int(1, 4096)
        parser.push(stream.subarray(at, at + size), (packet) => parsed.push(packet))
        at += size
      }
      const expected = referenceParse(stream, version)
      expect(parsed.length, `seed ${seed}`).toBe(expected.length)
      parsed.forEach((packet, i) => {
        if (!samePacket(packet, expected[i] as Packet)) throw new Error(`seed ${seed}, v${version} packet ${i} differs from mqtt-packet`)
      })
    }
  }, 30_000)

  it('keeps every value of a repeated user property, including empty ones', () => {
    const connect = generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'c', clean: true, keepalive: 0 })
    const publish = encodePublish({ topic: 't', payload: Buffer.alloc(0), qos: 0, retain: false, dup: false, properties: { userProperties: { k: ['', 'x'] } } }, 5)
    const parsed: Packet[] = []
    new MqttParser({ maxPacketSize: 1000 }).push(Buffer.concat([connect, publish]), (packet) => parsed.push(packet))
    expect(parsed[1]).toMatchObject({ properties: { userProperties: { k: ['', 'x'] } } })
  })

  it('[MQTT-3.3.2-2] a repeated topic is reused; a different one of the same length is decoded and checked again', () => {
    const parser = new MqttParser({ maxPacketSize: 1024 })
    const parsed: Packet[] = []
    const onPacket = (packet: Packet) => parsed.push(packet)
    parser.push(generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'c', clean: true, keepalive: 0 }), onPacket)
    const publish = (topic: string) => encodePublish({ topic, payload: Buffer.from('x'), qos: 1, retain: false, dup: false, packetId: 1 }, 4)
    for (const topic of ['a/bé', 'a/bé', 'a/bcd', 'a/bé']) parser.push(publish(topic), onPacket)
    expect(parsed.slice(1).map((p) => (p as { topic: string }).topic)).toEqual(['a/bé', 'a/bé', 'a/bcd', 'a/bé'])
    expect(() => parser.push(publish('a/bc+'), onPacket)).toThrow(/wildcard/)
  })
})

/** Deep equality with payloads compared as bytes: vitest's generic equality is slow on large buffers. */
function samePacket(ours: Packet, theirs: Packet): boolean {
  const { payload: ourPayload, ...ourRest } = ours as Packet & { payload: Buffer | null }
  const { payload: theirPayload, ...theirRest } = theirs as Packet & { payload: Buffer | null }
  if (ourPayload === null || theirPayload === null ? ourPayload !== theirPayload : !ourPayload.equals(theirPayload)) return false
  try {
    expect(ourRest).toEqual(theirRest)
    return true
  } catch {
    return false
  }
}
