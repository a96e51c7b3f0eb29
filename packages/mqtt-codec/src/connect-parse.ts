import type { IConnectPacket } from 'mqtt-packet'
import { ReasonCode } from './reason-code.js'
import { validateTopicName } from '@fluxmq/topic'
import { CodecError, CodecErrorCode, malformed, topicGrammarError } from './errors.js'
import { parseWithMqttPacket } from './delegate.js'
import { isProtocolVersion, type ProtocolVersion } from './protocol.js'
import { checkProperties } from './validate.js'

// MQTT 3.1.1 §3.1.2.3 connect flag bits.
const RESERVED = 0x01
const WILL = 0x04
const WILL_QOS = 0x18
const WILL_RETAIN = 0x20
const PASSWORD = 0x40
const USERNAME = 0x80

export interface ParsedConnect {
  packet: IConnectPacket
  version: ProtocolVersion
  bridgeMode: boolean
}

/**
 * CONNECT: reads protocol name, level and flags itself, so that the error for a bad CONNECT
 * carries the version the CONNACK must be written in, then lets mqtt-packet decode the rest.
 * `frame` is the whole packet; `bodyStart` is where the variable header begins.
 */
export function parseConnect(frame: Buffer, bodyStart: number): ParsedConnect {
  if (bodyStart + 2 > frame.length) throw malformed('CONNECT protocol name is missing')
  const nameEnd = bodyStart + 2 + frame.readUInt16BE(bodyStart)
  if (nameEnd + 2 > frame.length) throw malformed('CONNECT is too short for its protocol name, level and flags')
  const name = frame.toString('latin1', bodyStart + 2, nameEnd)
  const levelByte = frame[nameEnd] as number
  const flags = frame[nameEnd + 1] as number
  // Bridges (mosquitto's try_private) set the top bit of the level; mqtt-packet accepts them too.
  const bridgeMode = (levelByte & 0x80) !== 0
  const level = levelByte & 0x7f
  if (!isProtocolVersion(level)) {
    // [MQTT-3.1.2-2] An unsupported Protocol Level is answered with CONNACK 0x01 (3.1.1) / 0x84 (5).
    throw new CodecError(CodecErrorCode.UnsupportedProtocolVersion, ReasonCode.UnsupportedProtocolVersion, `unsupported protocol level ${level}`, { rule: 'MQTT-3.1.2-2' })
  }
  const version = level
  try {
    // [MQTT-3.1.2-1] The name must be the one that goes with the level: MQIsdp for 3.1, MQTT after.
    if (name !== (version === 3 ? 'MQIsdp' : 'MQTT')) {
      throw new CodecError(CodecErrorCode.UnsupportedProtocolVersion, ReasonCode.UnsupportedProtocolVersion, `protocol name ${JSON.stringify(name)} does not match level ${level}`, { rule: 'MQTT-3.1.2-1' })
    }
    checkFlags(flags, version)
    const packet = parseWithMqttPacket(frame, { version: undefined, bridgeMode: false }) as IConnectPacket
    checkConnect(packet, version)
    return { packet, version, bridgeMode }
  } catch (error) {
    throw error instanceof CodecError ? error.withProtocolVersion(version) : error
  }
}

function checkFlags(flags: number, version: ProtocolVersion): void {
  // [MQTT-3.1.2-3] The Server MUST validate that the reserved flag is zero.
  if ((flags & RESERVED) !== 0) throw malformed('CONNECT reserved flag is set', 'MQTT-3.1.2-3')
  const willQos = (flags & WILL_QOS) >> 3
  if ((flags & WILL) === 0) {
    // [MQTT-3.1.2-13] Without a will, Will QoS MUST be 0; [MQTT-3.1.2-15] and Will Retain MUST be 0.
    if (willQos !== 0) throw malformed('CONNECT has Will QoS without a will', 'MQTT-3.1.2-13')
    if ((flags & WILL_RETAIN) !== 0) throw malformed('CONNECT has Will Retain without a will', 'MQTT-3.1.2-15')
  } else if (willQos === 3) {
    // [MQTT-3.1.2-14] Will QoS MUST NOT be 3.
    throw malformed('CONNECT Will QoS is 3', 'MQTT-3.1.2-14')
  }
  // [MQTT-3.1.2-22] Before MQTT 5, a password requires a user name.
  if (version !== 5 && (flags & PASSWORD) !== 0 && (flags & USERNAME) === 0) {
    throw malformed('CONNECT has a password but no user name', 'MQTT-3.1.2-22')
  }
}

function checkConnect(packet: IConnectPacket, version: ProtocolVersion): void {
  const will = packet.will
  if (will !== undefined) {
    // The will becomes a PUBLISH: its topic is a topic name, not empty, without wildcards.
    const invalid = validateTopicName(will.topic)
    if (invalid !== undefined) throw topicGrammarError('CONNECT will topic', invalid)
  }
  if (version === 5) {
    checkProperties(packet.properties, 'CONNECT')
    checkProperties(will?.properties, 'will')
  }
}
