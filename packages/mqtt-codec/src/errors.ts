import type { TopicError } from '@fluxmq/topic'
import { ReasonCode } from './reason-code.js'
import type { ProtocolVersion } from './protocol.js'

/**
 * Stable error codes. A code is never reused for a different meaning; the adapter and the logs
 * key on it, the MQTT reason code says what goes on the wire.
 */
export const CodecErrorCode = {
  MalformedPacket: 'FLUXMQ_ERR_MQTT_MALFORMED_PACKET',
  ProtocolViolation: 'FLUXMQ_ERR_MQTT_PROTOCOL_VIOLATION',
  UnsupportedProtocolVersion: 'FLUXMQ_ERR_MQTT_UNSUPPORTED_PROTOCOL_VERSION',
  PacketTooLarge: 'FLUXMQ_ERR_MQTT_PACKET_TOO_LARGE',
  TopicNameInvalid: 'FLUXMQ_ERR_MQTT_TOPIC_NAME_INVALID',
  InvalidPacketToEncode: 'FLUXMQ_ERR_MQTT_INVALID_PACKET_TO_ENCODE',
} as const
export type CodecErrorCode = (typeof CodecErrorCode)[keyof typeof CodecErrorCode]

export interface CodecErrorDetails {
  /** The spec rule the input broke, e.g. `MQTT-3.3.1-4`, when the spec numbers it. */
  rule?: string
  /** The protocol version the peer announced, when known (a CONNECT that failed after its level byte). */
  protocolVersion?: ProtocolVersion
}

export class CodecError extends Error {
  override readonly name = 'CodecError'
  readonly code: CodecErrorCode
  /** MQTT 5 reason code for the CONNACK or DISCONNECT that answers this error. */
  readonly reasonCode: ReasonCode
  readonly rule: string | undefined
  /**
   * The version the peer speaks as far as the parser knows it: the parser's negotiated version,
   * or the level byte of the CONNECT being parsed. Lets the adapter pick the CONNACK format even
   * when the CONNECT itself was rejected. Undefined when no supported level was ever seen.
   */
  readonly protocolVersion: ProtocolVersion | undefined
  readonly #description: string

  constructor(code: CodecErrorCode, reasonCode: ReasonCode, description: string, details: CodecErrorDetails = {}) {
    super(details.rule === undefined ? description : `${description} [${details.rule}]`)
    this.code = code
    this.reasonCode = reasonCode
    this.rule = details.rule
    this.protocolVersion = details.protocolVersion
    this.#description = description
  }

  /** The same error, stamped with the version the failing connection speaks (if it has none yet). */
  withProtocolVersion(protocolVersion: ProtocolVersion | undefined): CodecError {
    if (protocolVersion === undefined || this.protocolVersion !== undefined) return this
    const details: CodecErrorDetails = this.rule === undefined ? { protocolVersion } : { rule: this.rule, protocolVersion }
    return new CodecError(this.code, this.reasonCode, this.#description, details)
  }
}

export function malformed(message: string, rule?: string): CodecError {
  return new CodecError(CodecErrorCode.MalformedPacket, ReasonCode.MalformedPacket, message, rule === undefined ? {} : { rule })
}

export function protocolViolation(message: string, rule?: string): CodecError {
  return new CodecError(CodecErrorCode.ProtocolViolation, ReasonCode.ProtocolError, message, rule === undefined ? {} : { rule })
}

export function topicNameInvalid(message: string, rule: string): CodecError {
  return new CodecError(CodecErrorCode.TopicNameInvalid, ReasonCode.TopicNameInvalid, message, { rule })
}

/**
 * A topic name the grammar (@fluxmq/topic) refuses. U+0000 is a malformed string for every MQTT
 * string [MQTT-1.5.4-2], so the whole packet is malformed (0x81); the rest is 0x90.
 */
export function topicGrammarError(where: string, error: TopicError): CodecError {
  if (error.kind === 'null-character') return malformed(`${where} contains U+0000`, 'MQTT-1.5.4-2')
  return topicNameInvalid(`${where} ${error.message}`, error.rule)
}

export function invalidPacketToEncode(message: string): CodecError {
  return new CodecError(CodecErrorCode.InvalidPacketToEncode, ReasonCode.ImplementationSpecificError, message)
}
