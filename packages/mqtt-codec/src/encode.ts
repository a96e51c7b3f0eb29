import { generate, writeToStream, type Packet } from 'mqtt-packet'
import { invalidPacketToEncode } from './errors.js'
import type { ProtocolVersion } from './protocol.js'
import { encodePublish } from './publish-encode.js'
import { readVarint, type VarintRead } from './varint.js'

const frameScratch: VarintRead = { value: 0, end: 0 }

// mqtt-packet otherwise builds, on its first encode, a table of 65,536 two-byte Buffers (about
// 6 MiB of heap) to write 16-bit numbers from. Only rare packets (CONNACK, SUBACK, …) come through
// here, so allocating their few numbers is cheaper than keeping the table. The switch is
// mqtt-packet's own and process-wide: another user of the same mqtt-packet copy (mqtt.js in a
// test) encodes without the table too.
writeToStream.cacheNumbers = false

/**
 * Encodes any packet for a connection speaking `protocolVersion`. PUBLISH takes the hand-written
 * path; the rest goes through mqtt-packet's `generate`, whose failures become CodecError. The
 * result is checked to be one whole frame, because mqtt-packet silently truncates some invalid
 * input (a packet identifier above 65,535, an empty user property map).
 */
export function encode(packet: Packet, protocolVersion: ProtocolVersion): Buffer {
  if (packet.cmd === 'publish') {
    const { topic, payload, qos, retain, dup, messageId, properties } = packet
    const fields = { topic, payload: typeof payload === 'string' ? Buffer.from(payload) : payload, qos, retain, dup, packetId: messageId, properties }
    return encodePublish(fields, protocolVersion)
  }
  let frame: Buffer
  try {
    frame = generate(packet, { protocolVersion })
  } catch (error) {
    throw invalidPacketToEncode(`${String(packet.cmd)}: ${error instanceof Error ? error.message : String(error)}`)
  }
  readVarint(frame, 1, frame.length, frameScratch)
  if (frameScratch.value < 0 || frameScratch.end + frameScratch.value !== frame.length) {
    throw invalidPacketToEncode(`${String(packet.cmd)}: mqtt-packet produced an incomplete packet from invalid fields`)
  }
  return frame
}
