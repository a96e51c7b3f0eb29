import type { Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { encode } from './encode.js'
import { CodecError, CodecErrorCode } from './errors.js'
import { MqttParser } from './parser.js'
import type { ProtocolVersion } from './protocol.js'
import { clientPacketsAfterConnect, connectPacket, referenceParse } from './test-support/fixtures.js'

const VERSIONS: ProtocolVersion[] = [3, 4, 5]
const LIMIT = 1024 * 1024

function parseAll(chunks: Buffer[], maxPacketSize = LIMIT): { packets: Packet[]; parser: MqttParser } {
  const parser = new MqttParser({ maxPacketSize })
  const packets: Packet[] = []
  for (const chunk of chunks) parser.push(chunk, (packet) => packets.push(packet))
  return { packets, parser }
}

function connectBytes(version: ProtocolVersion): Buffer {
  return encode(connectPacket(version), version)
}

function failure(chunks: Buffer[], maxPacketSize = LIMIT): CodecError {
  try {
    parseAll(chunks, maxPacketSize)
  } catch (error) {
    expect(error).toBeInstanceOf(CodecError)
    return error as CodecError
  }
  throw new Error('expected a CodecError')
}

/** A CONNECT for `version` followed by `body` wrapped in a fixed header with `firstByte`. */
function afterConnect(version: ProtocolVersion, firstByte: number, body: number[]): Buffer[] {
  return [connectBytes(version), Buffer.from([firstByte, body.length, ...body])]
}

describe('MqttParser round trips', () => {
  for (const version of VERSIONS) {
    const packets = [connectPacket(version), ...clientPacketsAfterConnect(version)]
    const frames = packets.map((packet) => encode(packet, version))
    const stream = Buffer.concat(frames)

    it(`v${version}: parses every client packet type like mqtt-packet and re-encodes it byte for byte`, () => {
      const { packets: parsed, parser } = parseAll([stream])
      expect(parser.protocolVersion).toBe(version)
      expect(parsed).toEqual(referenceParse(stream, version))
      expect(parsed.map((packet) => packet.cmd)).toEqual(packets.map((packet) => packet.cmd))
      parsed.forEach((packet, i) => expect(encode(packet, version).equals(frames[i] as Buffer), packet.cmd).toBe(true))
    })

    it(`v${version}: gives the same packets for a split at every byte boundary`, () => {
      const whole = parseAll([stream]).packets
      for (let at = 0; at <= stream.length; at++) {
        expect(parseAll([stream.subarray(0, at), stream.subarray(at)]).packets).toEqual(whole)
      }
      // Quadratic in the stream length by design; generous for a loaded 2-core CI machine.
    }, 60_000)

    it(`v${version}: gives the same packets fed one byte at a time`, () => {
      const bytes = Array.from(stream, (byte) => Buffer.from([byte]))
      expect(parseAll(bytes).packets).toEqual(parseAll([stream]).packets)
    })
  }

  it('copies a PUBLISH payload out of the caller chunk so a small message does not pin it', () => {
    const publish = (payload: Buffer) => encode({ cmd: 'publish', topic: 't', payload, qos: 0, retain: false, dup: false }, 4)
    // Large enough to live outside Node's shared 8 KiB pool, like a socket read.
    const chunk = Buffer.concat([connectBytes(4), publish(Buffer.from('abc')), publish(Buffer.alloc(16 * 1024))])
    const parsed = parseAll([chunk]).packets[1] as Packet & { payload: Buffer }
    expect(parsed.payload.buffer).not.toBe(chunk.buffer)
    chunk.fill(0)
    expect(parsed.payload.toString()).toBe('abc')
  })

  it('calls onPacket with thisArg as this (one shared method instead of a closure per connection)', () => {
    const owner = { seen: [] as string[] }
    const parser = new MqttParser({ maxPacketSize: LIMIT })
    const bytes = connectBytes(5)
    // Split inside the body so that the body-spanning-chunks path calls back too.
    parser.push(bytes.subarray(0, 5), function (this: typeof owner, packet) {
      this.seen.push(packet.cmd)
    }, owner)
    parser.push(Buffer.concat([bytes.subarray(5), Buffer.from([0xc0, 0x00])]), function (this: typeof owner, packet) {
      this.seen.push(packet.cmd)
    }, owner)
    expect(owner.seen).toEqual(['connect', 'pingreq'])
  })

  it('reports the CONNECT version and keeps it for later packets', () => {
    const parser = new MqttParser({ maxPacketSize: LIMIT })
    expect(parser.protocolVersion).toBeUndefined()
    parser.push(connectBytes(5), () => {})
    expect(parser.protocolVersion).toBe(5)
  })
})

describe('MqttParser short MQTT 5 packets', () => {
  // mosquitto clients end every session with these two bytes.
  it('[MQTT-3.14.2-1] parses a DISCONNECT with Remaining Length 0 as reason 0x00 without properties', () => {
    const { packets } = parseAll(afterConnect(5, 0xe0, []))
    expect(packets[1]).toMatchObject({ cmd: 'disconnect', reasonCode: 0 })
    expect(packets[1]).not.toHaveProperty('properties')
  })

  it('[MQTT-3.14.2-1] parses a DISCONNECT with only a reason code (0x04, with will)', () => {
    const { packets } = parseAll(afterConnect(5, 0xe0, [0x04]))
    expect(packets[1]).toMatchObject({ cmd: 'disconnect', reasonCode: 0x04 })
  })

  it('§3.15.2.1 parses an AUTH with Remaining Length 0 as reason 0x00 without properties', () => {
    const { packets } = parseAll(afterConnect(5, 0xf0, []))
    expect(packets[1]).toEqual({ cmd: 'auth', retain: false, qos: 0, dup: false, length: 0, topic: null, payload: null, reasonCode: 0 })
    // The same packet with its reason code and Property Length spelt out parses alike.
    expect(parseAll(afterConnect(5, 0xf0, [0x00, 0x00])).packets[1]).toEqual({ ...packets[1], length: 2 })
  })

  it('[MQTT-3.15.2-1] parses an AUTH with only a reason code (0x18), and rejects one with a reason code AUTH does not have', () => {
    expect(parseAll(afterConnect(5, 0xf0, [0x18])).packets[1]).toMatchObject({ cmd: 'auth', reasonCode: 0x18 })
    expect(failure(afterConnect(5, 0xf0, [0x04])).reasonCode).toBe(0x81)
  })
})

describe('MqttParser limits', () => {
  it('rejects a packet over maxPacketSize as soon as its Remaining Length is known (0x95)', () => {
    // 200 MB announced: 0x80 0x80 0xAF 0x5F = 200,000,000 bytes... computed below to be exact.
    const parser = new MqttParser({ maxPacketSize: LIMIT })
    parser.push(connectBytes(5), () => {})
    const header = Buffer.from([0x30, 0x80, 0xc2, 0xd7, 0x5f]) // PUBLISH, Remaining Length 200,000,000
    const error = (() => {
      try {
        parser.push(header, () => {})
      } catch (e) {
        return e as CodecError
      }
      throw new Error('expected a CodecError')
    })()
    expect(error.code).toBe(CodecErrorCode.PacketTooLarge)
    expect(error.reasonCode).toBe(0x95)
    expect(error.protocolVersion).toBe(5)
  })

  it('does not allocate the announced body of an allowed large packet before it arrives', () => {
    const parser = new MqttParser({ maxPacketSize: 256 * 1024 * 1024 })
    parser.push(connectBytes(4), () => {})
    const before = process.memoryUsage().arrayBuffers
    parser.push(Buffer.from([0x30, 0x80, 0xc2, 0xd7, 0x5f, 0x00, 0x01, 0x74]), () => {})
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1024 * 1024)
  })

  it('counts the fixed header in maxPacketSize: a packet of exactly the limit passes, one byte more fails', () => {
    const publish = (payloadLength: number) => encode({ cmd: 'publish', topic: 't', payload: Buffer.alloc(payloadLength), qos: 0, retain: false, dup: false }, 4)
    const connect = connectBytes(4)
    const limit = Math.max(connect.length, 200)
    const exact = publish(limit - 6) // 1 type byte, 2 length bytes, 2 topic length bytes, 1 topic byte
    expect(exact.length).toBe(limit)
    expect(parseAll([connect, exact], limit).packets).toHaveLength(2)
    expect(failure([connect, publish(limit - 5)], limit).code).toBe(CodecErrorCode.PacketTooLarge)
  })

  it('[MQTT-1.5.5-1] rejects a Remaining Length longer than 4 bytes', () => {
    const error = failure([connectBytes(4), Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])], 300 * 1024 * 1024)
    expect(error.rule).toBe('MQTT-1.5.5-1')
    expect(error.reasonCode).toBe(0x81)
  })

  it('[MQTT-1.5.5-1] rejects a Remaining Length split across chunks and longer than 4 bytes', () => {
    const error = failure([connectBytes(4), Buffer.from([0x30, 0xff, 0xff]), Buffer.from([0xff, 0xff, 0x01])], 300 * 1024 * 1024)
    expect(error.rule).toBe('MQTT-1.5.5-1')
  })

  it('[MQTT-1.5.5-1] rejects a Remaining Length that is not in its shortest form', () => {
    expect(failure([connectBytes(4), Buffer.from([0xc0, 0x80, 0x00])]).rule).toBe('MQTT-1.5.5-1')
  })

  it('keeps throwing the first error on later pushes', () => {
    const parser = new MqttParser({ maxPacketSize: LIMIT })
    expect(() => parser.push(Buffer.from([0xc0, 0x00]), () => {})).toThrow(CodecError)
    expect(() => parser.push(connectBytes(4), () => {})).toThrow(/MQTT-3.1.0-1/)
  })

  it('delivers the packets before a malformed one in the same chunk', () => {
    const packets: Packet[] = []
    const parser = new MqttParser({ maxPacketSize: LIMIT })
    expect(() => parser.push(Buffer.concat([connectBytes(4), Buffer.from([0xc0, 0x00, 0x36, 0x00])]), (p) => packets.push(p))).toThrow(/MQTT-3.3.1-4/)
    expect(packets.map((p) => p.cmd)).toEqual(['connect', 'pingreq'])
  })

  it('refuses further input after an onPacket callback threw, since the rest of that chunk was lost', () => {
    const parser = new MqttParser({ maxPacketSize: LIMIT })
    const boom = new Error('handler failed')
    expect(() =>
      parser.push(Buffer.concat([connectBytes(4), Buffer.from([0xc0, 0x00])]), () => {
        throw boom
      }),
    ).toThrow(boom)
    expect(() => parser.push(Buffer.from([0xc0, 0x00]), () => {})).toThrow(/cannot continue/)
  })

  it('refuses a maxPacketSize that cannot hold any packet', () => {
    expect(() => new MqttParser({ maxPacketSize: 1 })).toThrow(RangeError)
  })
})

describe('MqttParser malformed and protocol-violating packets', () => {
  it('[MQTT-3.1.0-1] the first packet must be CONNECT', () => {
    const error = failure([Buffer.from([0xc0, 0x00])])
    expect(error.code).toBe(CodecErrorCode.ProtocolViolation)
    expect(error.reasonCode).toBe(0x82)
    expect(error.rule).toBe('MQTT-3.1.0-1')
  })

  it('[MQTT-3.1.0-2] a second CONNECT is a protocol error', () => {
    const error = failure([connectBytes(5), connectBytes(5)])
    expect(error.rule).toBe('MQTT-3.1.0-2')
    expect(error.reasonCode).toBe(0x82)
    expect(error.protocolVersion).toBe(5)
  })

  it('[MQTT-2.1.3-1] wrong reserved fixed-header flags are malformed', () => {
    for (const firstByte of [0x11, 0x42, 0x60, 0x80, 0xa0, 0xc1, 0xe8]) {
      const chunks = firstByte >> 4 === 1 ? [Buffer.from([firstByte, 0x00])] : afterConnect(4, firstByte, [0, 1])
      const error = failure(chunks)
      expect(error.rule, firstByte.toString(16)).toBe('MQTT-2.1.3-1')
      expect(error.reasonCode).toBe(0x81)
    }
  })

  it('[MQTT-3.3.1-4] a PUBLISH with QoS 3 is malformed', () => {
    const error = failure(afterConnect(4, 0x36, [0, 1, 0x74, 0, 1]))
    expect(error.rule).toBe('MQTT-3.3.1-4')
    expect(error.reasonCode).toBe(0x81)
  })

  it('rejects the reserved packet type 0, and AUTH before MQTT 5, as malformed', () => {
    expect(failure(afterConnect(4, 0x00, [])).reasonCode).toBe(0x81)
    expect(failure(afterConnect(4, 0xf0, [0])).reasonCode).toBe(0x81)
  })

  it('rejects packets only a Server sends (CONNACK, SUBACK, UNSUBACK, PINGRESP) as protocol errors', () => {
    for (const firstByte of [0x20, 0x90, 0xb0, 0xd0]) expect(failure(afterConnect(5, firstByte, [])).reasonCode).toBe(0x82)
  })

  it('[MQTT-1.5.4-1] ill-formed UTF-8 in a PUBLISH topic is malformed', () => {
    const error = failure(afterConnect(4, 0x30, [0, 2, 0xc3, 0x28]))
    expect(error.rule).toBe('MQTT-1.5.4-1')
    expect(error.reasonCode).toBe(0x81)
  })

  it('[MQTT-1.5.4-1] an encoded surrogate (CESU-8) in a PUBLISH topic is malformed', () => {
    expect(failure(afterConnect(4, 0x30, [0, 3, 0xed, 0xa0, 0x80])).rule).toBe('MQTT-1.5.4-1')
  })

  it('[MQTT-1.5.4-2] U+0000 in a PUBLISH topic is malformed', () => {
    expect(failure(afterConnect(4, 0x30, [0, 2, 0x61, 0x00])).rule).toBe('MQTT-1.5.4-2')
  })

  it('[MQTT-1.5.4-1] ill-formed UTF-8 in a CONNECT client id is malformed and carries the version', () => {
    const connect = connectBytes(5)
    const at = connect.indexOf(Buffer.from('client-'))
    connect[at] = 0xff
    const error = failure([connect])
    expect(error.rule).toBe('MQTT-1.5.4-1')
    expect(error.protocolVersion).toBe(5)
  })

  it('[MQTT-1.5.4-2] U+0000 in a SUBSCRIBE topic filter is malformed', () => {
    const error = failure(afterConnect(4, 0x82, [0, 1, 0, 3, 0x61, 0x00, 0x62, 0x00]))
    expect(error.rule).toBe('MQTT-1.5.4-2')
  })

  it('[MQTT-1.5.4-1] ill-formed UTF-8 in a user property is malformed', () => {
    // PUBACK v5: id, reason 0, properties: user property "a" = 0xff
    const error = failure(afterConnect(5, 0x40, [0, 1, 0, 7, 0x26, 0, 1, 0x61, 0, 1, 0xff]))
    expect(error.rule).toBe('MQTT-1.5.4-1')
  })

  it('[MQTT-3.3.2-2] a wildcard in a PUBLISH topic is an invalid topic name (0x90)', () => {
    for (const wildcard of [0x23, 0x2b]) {
      const error = failure(afterConnect(5, 0x30, [0, 3, 0x61, 0x2f, wildcard, 0]))
      expect(error.rule).toBe('MQTT-3.3.2-2')
      expect(error.reasonCode).toBe(0x90)
      expect(error.code).toBe(CodecErrorCode.TopicNameInvalid)
    }
  })

  it('[MQTT-4.7.3-1] an empty PUBLISH topic is invalid before MQTT 5', () => {
    expect(failure(afterConnect(4, 0x30, [0, 0, 0x61])).rule).toBe('MQTT-4.7.3-1')
  })

  it('accepts an empty MQTT 5 PUBLISH topic only with a Topic Alias', () => {
    expect(failure(afterConnect(5, 0x30, [0, 0, 0])).reasonCode).toBe(0x82)
    const { packets } = parseAll(afterConnect(5, 0x30, [0, 0, 3, 0x23, 0, 1, 0x78]))
    expect(packets[1]).toMatchObject({ topic: '', properties: { topicAlias: 1 }, payload: Buffer.from('x') })
  })

  it('[MQTT-2.2.1-3] a QoS 1 PUBLISH, SUBSCRIBE or UNSUBSCRIBE with packet identifier 0 is a protocol error', () => {
    expect(failure(afterConnect(4, 0x32, [0, 1, 0x74, 0, 0])).rule).toBe('MQTT-2.2.1-3')
    expect(failure(afterConnect(4, 0x82, [0, 0, 0, 1, 0x74, 0])).rule).toBe('MQTT-2.2.1-3')
    expect(failure(afterConnect(4, 0xa2, [0, 0, 0, 1, 0x74])).rule).toBe('MQTT-2.2.1-3')
  })

  it('[MQTT-3.3.4-6] a PUBLISH from a client must not carry a Subscription Identifier', () => {
    expect(failure(afterConnect(5, 0x30, [0, 1, 0x74, 2, 0x0b, 1])).rule).toBe('MQTT-3.3.4-6')
  })

  it('rejects a property that does not belong in the packet (malformed) and a repeated one (protocol error)', () => {
    // PUBLISH with Session Expiry Interval (0x11)
    expect(failure(afterConnect(5, 0x30, [0, 1, 0x74, 5, 0x11, 0, 0, 0, 1])).reasonCode).toBe(0x81)
    // PUBLISH with Topic Alias twice
    expect(failure(afterConnect(5, 0x30, [0, 1, 0x74, 6, 0x23, 0, 1, 0x23, 0, 1])).reasonCode).toBe(0x82)
    // SUBSCRIBE with Topic Alias (mqtt-packet accepts it)
    expect(failure(afterConnect(5, 0x82, [0, 1, 3, 0x23, 0, 1, 0, 1, 0x74, 0])).reasonCode).toBe(0x81)
    // SUBSCRIBE with two Subscription Identifiers
    expect(failure(afterConnect(5, 0x82, [0, 1, 4, 0x0b, 1, 0x0b, 2, 0, 1, 0x74, 0])).reasonCode).toBe(0x82)
  })

  it('rejects a Payload Format Indicator other than 0 or 1 as a protocol error', () => {
    expect(failure(afterConnect(5, 0x30, [0, 1, 0x74, 2, 0x01, 2])).reasonCode).toBe(0x82)
  })

  it('[MQTT-3.8.3-3] a SUBSCRIBE without topic filters is malformed', () => {
    expect(failure(afterConnect(4, 0x82, [0, 1])).rule).toBe('MQTT-3.8.3-3')
  })

  it('[MQTT-3.10.3-2] an UNSUBSCRIBE without topic filters is malformed', () => {
    expect(failure(afterConnect(5, 0xa2, [0, 1, 0])).rule).toBe('MQTT-3.10.3-2')
  })

  it('rejects a SUBSCRIBE with reserved subscription option bits (mqtt-packet message, 0x81)', () => {
    const error = failure(afterConnect(4, 0x82, [0, 1, 0, 1, 0x74, 0x04]))
    expect(error.reasonCode).toBe(0x81)
    expect(error.message).toMatch(/bits 7-2 must be 0/)
  })

  it('rejects bytes after the last field of CONNECT, PUBACK, PINGREQ and DISCONNECT', () => {
    const connect = connectBytes(4)
    const padded = Buffer.concat([connect, Buffer.from([0])])
    padded[1] = (connect[1] as number) + 1
    expect(failure([padded]).message).toMatch(/unexpected bytes/)
    expect(failure(afterConnect(4, 0x40, [0, 1, 0])).reasonCode).toBe(0x81)
    expect(failure(afterConnect(4, 0xc0, [0])).reasonCode).toBe(0x81)
    expect(failure(afterConnect(4, 0xe0, [0])).reasonCode).toBe(0x81)
  })

  it('rejects an invalid MQTT 5 PUBACK reason code as malformed', () => {
    expect(failure(afterConnect(5, 0x40, [0, 1, 0x05])).reasonCode).toBe(0x81)
  })
})

describe('MqttParser CONNECT', () => {
  function connectWith(mutate: (bytes: Buffer, flagsAt: number) => void, version: ProtocolVersion = 4): CodecError {
    const bytes = connectBytes(version)
    mutate(bytes, flagsOffset(bytes))
    return failure([bytes])
  }
  /** Offset of the connect flags: fixed header, name length, "MQTT", level. */
  function flagsOffset(bytes: Buffer): number {
    let headerSize = 2
    while (((bytes[headerSize - 1] as number) & 0x80) !== 0) headerSize++
    return headerSize + 2 + 4 + 1
  }

  it('[MQTT-3.1.2-2] an unsupported protocol level is 0x84 without a version to answer in', () => {
    const error = connectWith((bytes, at) => (bytes[at - 1] = 6))
    expect(error.code).toBe(CodecErrorCode.UnsupportedProtocolVersion)
    expect(error.reasonCode).toBe(0x84)
    expect(error.protocolVersion).toBeUndefined()
  })

  it('[MQTT-3.1.2-1] a protocol name that does not match the level is 0x84 with that level', () => {
    const error = connectWith((bytes, at) => bytes.write('MQTX', at - 5, 'latin1'), 5)
    expect(error.reasonCode).toBe(0x84)
    expect(error.rule).toBe('MQTT-3.1.2-1')
    expect(error.protocolVersion).toBe(5)
  })

  it('[MQTT-3.1.2-1] MQIsdp goes only with level 3 and MQTT only with 4 and 5', () => {
    const mqttLevel3 = [0, 4, ...Buffer.from('MQTT'), 3, 0x02, 0, 0, 0, 1, 0x63]
    const mqisdpLevel4 = [0, 6, ...Buffer.from('MQIsdp'), 4, 0x02, 0, 0, 0, 1, 0x63]
    expect(failure([Buffer.from([0x10, mqttLevel3.length, ...mqttLevel3])])).toMatchObject({ reasonCode: 0x84, protocolVersion: 3 })
    expect(failure([Buffer.from([0x10, mqisdpLevel4.length, ...mqisdpLevel4])])).toMatchObject({ reasonCode: 0x84, protocolVersion: 4 })
  })

  it('accepts a bridge CONNECT (level | 0x80), as mosquitto bridges send it', () => {
    const bytes = connectBytes(4)
    bytes[flagsOffset(bytes) - 1] = 0x84
    const { packets, parser } = parseAll([bytes])
    expect(parser.protocolVersion).toBe(4)
    expect(packets[0]).toMatchObject({ cmd: 'connect', bridgeMode: true })
  })

  it('[MQTT-3.1.2-3] the reserved connect flag must be 0', () => {
    expect(connectWith((bytes, at) => (bytes[at] = (bytes[at] as number) | 1)).rule).toBe('MQTT-3.1.2-3')
  })

  it('[MQTT-3.1.2-14] Will QoS 3 is malformed', () => {
    const error = connectWith((bytes, at) => (bytes[at] = (bytes[at] as number) | 0x18), 5)
    expect(error.rule).toBe('MQTT-3.1.2-14')
    expect(error.protocolVersion).toBe(5)
  })

  it('[MQTT-3.1.2-13] [MQTT-3.1.2-15] Will QoS and Will Retain must be 0 without a will', () => {
    const noWill = (extra: number) => {
      const bytes = encode({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'c', clean: true, keepalive: 0 }, 4)
      bytes[flagsOffset(bytes)] = (bytes[flagsOffset(bytes)] as number) | extra
      return bytes
    }
    expect(failure([noWill(0x08)]).rule).toBe('MQTT-3.1.2-13')
    expect(failure([noWill(0x20)]).rule).toBe('MQTT-3.1.2-15')
  })

  it('[MQTT-3.1.2-22] a password without a user name is malformed before MQTT 5', () => {
    // mqtt-packet refuses to encode this, so the bytes are written out: flags 0x42 = password + clean.
    const body = [0, 4, ...Buffer.from('MQTT'), 4, 0x42, 0, 0, 0, 1, 0x63, 0, 1, 0x70]
    expect(failure([Buffer.from([0x10, body.length, ...body])]).rule).toBe('MQTT-3.1.2-22')
    const v5 = [0, 4, ...Buffer.from('MQTT'), 5, 0x42, 0, 0, 0, 0, 1, 0x63, 0, 1, 0x70]
    expect(parseAll([Buffer.from([0x10, v5.length, ...v5])]).packets[0]).toMatchObject({ password: Buffer.from('p') })
  })

  it('[MQTT-3.3.2-2] a will topic with a wildcard is an invalid topic name', () => {
    const bytes = encode({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'c', clean: true, keepalive: 0, will: { topic: 'a/#', payload: Buffer.alloc(0) } }, 5)
    const error = failure([bytes])
    expect(error.reasonCode).toBe(0x90)
    expect(error.protocolVersion).toBe(5)
  })

  it('rejects Receive Maximum 0 as a protocol error', () => {
    const bytes = encode({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'c', clean: true, keepalive: 0, properties: { receiveMaximum: 0 } }, 5)
    expect(failure([bytes]).reasonCode).toBe(0x82)
  })

  it('wraps what mqtt-packet rejects as 0x81 with its message', () => {
    // Truncate the CONNECT so that the client id runs past the packet.
    const bytes = encode({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'abc', clean: true, keepalive: 0 }, 4)
    const cut = Buffer.concat([bytes.subarray(0, bytes.length - 1)])
    cut[1] = (bytes[1] as number) - 1
    const error = failure([cut])
    expect(error.code).toBe(CodecErrorCode.MalformedPacket)
    expect(error.message).toMatch(/Packet too short/)
    expect(error.protocolVersion).toBe(4)
  })
})

describe('MqttParser on what mqtt-packet lets through', () => {
  it('rejects a Property Length that ends inside a property (DISCONNECT)', () => {
    // Property Length 2, but Session Expiry Interval takes 5 bytes.
    expect(failure(afterConnect(5, 0xe0, [0x00, 2, 0x11, 0, 0, 0, 1])).message).toMatch(/Property Length/)
  })

  it('rejects a Property Length that covers more than the properties (UNSUBSCRIBE)', () => {
    expect(failure(afterConnect(5, 0xa2, [0, 1, 8, 0x26, 0, 1, 0x61, 0, 1, 0x62, 0, 1, 0x74])).reasonCode).toBe(0x81)
  })

  it('rejects a string property cut short at the end of the packet', () => {
    // DISCONNECT: Reason String announces 5 bytes, the packet ends after its length.
    expect(failure(afterConnect(5, 0xe0, [0x00, 3, 0x1f, 0, 5])).reasonCode).toBe(0x81)
  })

  it('rejects a user property cut short at the end of the packet', () => {
    expect(failure(afterConnect(5, 0xe0, [0x00, 6, 0x26, 0, 1, 0x61, 0, 5])).reasonCode).toBe(0x81)
  })
})
