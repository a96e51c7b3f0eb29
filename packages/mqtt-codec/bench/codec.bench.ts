/**
 * Codec micro-benchmarks: `pnpm exec vitest bench --run` in packages/mqtt-codec.
 * Each pair compares the codec's hot path with the mqtt-packet call it replaces.
 */
import { generate, parser as referenceParser, type Packet } from 'mqtt-packet'
import { bench, describe } from 'vitest'
import { encodePublish, MqttParser, stampPacketId, type PublishFields } from '../src/index.js'

const connect = generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'bench', clean: true, keepalive: 0 })
const small: PublishFields = { topic: 'sensors/building-1/floor-3/temperature', payload: Buffer.alloc(64, 1), qos: 1, retain: false, dup: false, packetId: 1 }
const withProperties: PublishFields = {
  ...small,
  properties: { messageExpiryInterval: 60, contentType: 'application/json', userProperties: { tenant: 'acme', trace: 'abc123' } },
}
const PUBLISHES = 1000
const stream = Buffer.concat(Array.from({ length: PUBLISHES }, (_, i) => encodePublish({ ...withProperties, packetId: (i % 65535) + 1 }, 5)))
const streamWithConnect = Buffer.concat([connect, stream])
// Socket-sized reads: 64 KiB chunks that cut packets at arbitrary points.
const chunks: Buffer[] = []
for (let at = 0; at < streamWithConnect.length; at += 65536) chunks.push(streamWithConnect.subarray(at, at + 65536))

describe(`parse ${PUBLISHES} v5 PUBLISH with properties (64 KiB chunks)`, () => {
  bench('MqttParser', () => {
    const parser = new MqttParser({ maxPacketSize: 1024 * 1024 })
    let count = 0
    for (const chunk of chunks) parser.push(chunk, () => count++)
  })
  bench('mqtt-packet parser', () => {
    const parser = referenceParser({ protocolVersion: 5 })
    let count = 0
    parser.on('packet', (_packet: Packet) => count++)
    for (const chunk of chunks) parser.parse(chunk)
  })
})

describe('encode one v5 PUBLISH (QoS 1, 64-byte payload)', () => {
  const packet = { cmd: 'publish' as const, ...small, messageId: 1 }
  const packetWithProperties = { cmd: 'publish' as const, ...withProperties, messageId: 1 }
  bench('encodePublish', () => {
    encodePublish(small, 5)
  })
  bench('mqtt-packet generate', () => {
    generate(packet, { protocolVersion: 5 })
  })
  bench('encodePublish with properties', () => {
    encodePublish(withProperties, 5)
  })
  bench('mqtt-packet generate with properties', () => {
    generate(packetWithProperties, { protocolVersion: 5 })
  })
})

describe('per-subscriber QoS 1 copy of one encoded PUBLISH', () => {
  const template = encodePublish(withProperties, 5)
  let id = 0
  bench('stampPacketId', () => {
    id = (id % 65535) + 1
    stampPacketId(template, id, false)
  })
  bench('encodePublish per subscriber', () => {
    id = (id % 65535) + 1
    encodePublish({ ...withProperties, packetId: id }, 5)
  })
})
