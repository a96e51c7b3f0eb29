import { generate, writeToStream, type Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { encode } from './encode.js'
import { CodecError, CodecErrorCode } from './errors.js'
import type { ProtocolVersion } from './protocol.js'
import { serverPackets } from './test-support/fixtures.js'
import { referenceParse } from './test-support/fixtures.js'

const connect = (version: ProtocolVersion) => generate({ cmd: 'connect', protocolId: version === 3 ? 'MQIsdp' : 'MQTT', protocolVersion: version, clientId: 'c', clean: true, keepalive: 0 })

describe('encode', () => {
  for (const version of [3, 4, 5] as const) {
    it(`v${version}: every packet type a Server sends survives encode → mqtt-packet parse → encode byte for byte`, () => {
      for (const packet of serverPackets(version)) {
        const bytes = encode(packet, version)
        const [, parsed] = referenceParse(Buffer.concat([connect(version), bytes]), version) as [Packet, Packet]
        expect(parsed.cmd).toBe(packet.cmd)
        expect(parsed).toMatchObject(packet as object)
        expect(encode(parsed, version).equals(bytes), packet.cmd).toBe(true)
      }
    })
  }

  it('encodes PUBLISH exactly as mqtt-packet does, string payloads included', () => {
    const packet: Packet = { cmd: 'publish', topic: 'a/b', payload: 'héllo', qos: 1, retain: true, dup: false, messageId: 7, properties: { contentType: 'text' } }
    expect(encode(packet, 5).equals(generate(packet, { protocolVersion: 5 }))).toBe(true)
  })

  it('turns what mqtt-packet refuses into FLUXMQ_ERR_MQTT_INVALID_PACKET_TO_ENCODE', () => {
    const error = (() => {
      try {
        encode({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'c', clean: true, keepalive: 70000 }, 4)
      } catch (e) {
        return e as CodecError
      }
      throw new Error('expected a CodecError')
    })()
    expect(error).toBeInstanceOf(CodecError)
    expect(error.code).toBe(CodecErrorCode.InvalidPacketToEncode)
    expect(error.message).toMatch(/keepalive/)
  })

  it('keeps no table of 65,536 number Buffers: mqtt-packet writes numbers without its cache', () => {
    encode({ cmd: 'suback', messageId: 513, granted: [1] }, 4)
    expect(writeToStream.cacheNumbers).toBe(false)
    expect(encode({ cmd: 'suback', messageId: 513, granted: [1] }, 4)).toEqual(Buffer.from([0x90, 0x03, 0x02, 0x01, 0x01]))
  })

  it('refuses packets mqtt-packet would silently truncate (packet identifier above 65535)', () => {
    expect(() => encode({ cmd: 'puback', messageId: 70000 }, 4)).toThrow(CodecError)
    expect(() => encode({ cmd: 'suback', messageId: 1, granted: [0], properties: { userProperties: {} } }, 5)).toThrow(CodecError)
  })
})
