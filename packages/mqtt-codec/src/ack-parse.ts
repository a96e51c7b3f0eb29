import type { IAuthPacket, IPingreqPacket, IPubackPacket, IPubcompPacket, IPubrecPacket, IPubrelPacket } from 'mqtt-packet'
import { malformed } from './errors.js'
import { PropertyId, readProperties, type PropertyContext } from './properties.js'
import { PacketType, type ProtocolVersion } from './protocol.js'

export type AckPacket = IPubackPacket | IPubrecPacket | IPubrelPacket | IPubcompPacket

const ACK_NAMES = ['puback', 'pubrec', 'pubrel', 'pubcomp'] as const
const ACK_PROPERTIES: ReadonlySet<number> = new Set([PropertyId.ReasonString, PropertyId.UserProperty])

// MQTT 5 §3.4.2.1 / §3.5.2.1 and §3.6.2.1 / §3.7.2.1: the reason codes each acknowledgement may carry.
const PUBACK_PUBREC_CODES: ReadonlySet<number> = new Set([0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99])
const PUBREL_PUBCOMP_CODES: ReadonlySet<number> = new Set([0x00, 0x92])

/**
 * PUBACK, PUBREC, PUBREL, PUBCOMP: one per QoS>0 message, so they skip mqtt-packet too. The
 * object has the same fields as mqtt-packet's (including its null topic and payload) so both
 * parse paths stay interchangeable.
 */
export function parseAck(type: number, buf: Buffer, start: number, end: number, flags: number, version: ProtocolVersion, owned: boolean): AckPacket {
  const cmd = ACK_NAMES[type - PacketType.Puback] as (typeof ACK_NAMES)[number]
  const length = end - start
  if (length < 2) throw malformed(`${cmd.toUpperCase()} packet identifier is missing`)
  const packet = { cmd, retain: false, qos: (flags >> 1) & 3, dup: false, length, topic: null, payload: null, messageId: buf.readUInt16BE(start) } as AckPacket
  if (version !== 5) {
    // MQTT 3.1.1 §3.4.1: the Remaining Length of an acknowledgement is exactly 2.
    if (length !== 2) throw malformed(`${cmd.toUpperCase()} must be 2 bytes long in MQTT ${version === 4 ? '3.1.1' : '3.1'}`)
    return packet
  }
  if (length === 2) {
    packet.reasonCode = 0 // MQTT 5 §3.4.2.1: no Reason Code means 0x00 Success.
    return packet
  }
  const reasonCode = buf[start + 2] as number
  const allowed = type === PacketType.Puback || type === PacketType.Pubrec ? PUBACK_PUBREC_CODES : PUBREL_PUBCOMP_CODES
  if (!allowed.has(reasonCode)) throw malformed(`Invalid ${cmd} reason code 0x${reasonCode.toString(16)}`)
  packet.reasonCode = reasonCode
  if (length > 3) {
    const properties: Record<string, unknown> = {}
    const ctx: PropertyContext = { packet: cmd.toUpperCase(), allowed: ACK_PROPERTIES, owned }
    if (readProperties(buf, start + 3, end, ctx, properties) !== end) throw malformed(`${cmd.toUpperCase()} has bytes after its properties`)
    if (Object.keys(properties).length > 0) packet.properties = properties
  }
  return packet
}

export function parsePingreq(length: number): IPingreqPacket {
  // MQTT 5 §3.12.1: PINGREQ has no variable header and no payload.
  if (length !== 0) throw malformed('PINGREQ must have a Remaining Length of 0')
  return { cmd: 'pingreq', retain: false, qos: 0, dup: false, length: 0, topic: null, payload: null } as IPingreqPacket
}

/** An AUTH with Remaining Length 0: reason code 0x00 (Success), no properties (MQTT 5 §3.15.2.1). */
export function emptyAuth(): IAuthPacket {
  return { cmd: 'auth', retain: false, qos: 0, dup: false, length: 0, topic: null, payload: null, reasonCode: 0 } as IAuthPacket
}
