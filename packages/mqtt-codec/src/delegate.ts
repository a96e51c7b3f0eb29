import { parser as createPacketParser, type Packet } from 'mqtt-packet'
import { CodecError, malformed } from './errors.js'
import { invalidString } from './properties.js'
import type { ProtocolVersion } from './protocol.js'
import { isValidUtf8Range } from './utf8.js'

/**
 * The parts of mqtt-packet 9.0.2's Parser this module relies on. They are internals, which is
 * why the version is pinned exactly; the UTF-8, trailing-byte and Property Length tests in
 * `parser.test.ts` fail if an upgrade moves them.
 */
interface PacketParserInternals {
  settings: { protocolVersion?: number; bridgeMode?: boolean }
  packet: { length: number }
  _pos: number
  _list: { length: number; slice(start: number, end: number): Buffer; readUInt8(offset: number): number }
  error: Error | null
  _parseNum(): number
  _parseString(): string | null
  _parseProperties(): Record<string, unknown> | false
  _emitError(error: Error): void
  on(event: 'packet', listener: (packet: Packet) => void): unknown
  on(event: 'error', listener: (error: Error) => void): unknown
  parse(buf: Buffer): number
}

/**
 * mqtt-packet decodes strings with `toString('utf8')`, which turns ill-formed bytes into U+FFFD
 * and keeps U+0000. This replacement checks the raw bytes first [MQTT-1.5.4-1][MQTT-1.5.4-2].
 */
function parseStrictString(this: PacketParserInternals): string | null {
  const length = this._parseNum()
  const start = this._pos
  const end = start + length
  if (length === -1 || end > this._list.length || end > this.packet.length) return null
  const raw = this._list.slice(start, end)
  if (!isValidUtf8Range(raw, 0, raw.length)) this._emitError(invalidString(raw, 0, raw.length, 'string field'))
  this._pos = end
  return raw.toString('utf8')
}

/**
 * mqtt-packet reads properties until it has passed the declared Property Length, so a property
 * that straddles the end, or a length that covers too much, goes unnoticed. This wrapper checks
 * that the properties ended exactly where the length said (MQTT 5 §2.2.2.1).
 */
function parseExactProperties(this: PacketParserInternals): Record<string, unknown> | false {
  const start = this._pos
  // [MQTT-3.14.2-1] [MQTT-3.15.2-1] A DISCONNECT that ends before its Property Length (Remaining
  // Length 0 or 1), or an AUTH with only its reason code, has no properties: absent, not
  // truncated. (An AUTH of Remaining Length 0 never gets here: the parser answers it itself.)
  if (start >= this._list.length) return {}
  const properties = originalParseProperties.call(this)
  if (this.error !== null) return properties
  let declared = 0
  let multiplier = 1
  let at = start
  for (;;) {
    if (at >= this._list.length) {
      this._emitError(malformed('Property Length is truncated'))
      return properties
    }
    const byte = this._list.readUInt8(at++)
    declared += (byte & 0x7f) * multiplier
    multiplier *= 0x80
    if ((byte & 0x80) === 0) break
  }
  if (this._pos !== at + declared) this._emitError(malformed('Property Length does not match the properties that follow it'))
  return properties
}

const originalParseProperties = (createPacketParser() as unknown as PacketParserInternals)._parseProperties

export interface DelegateContext {
  version: ProtocolVersion | undefined
  bridgeMode: boolean
}

/**
 * Parses one complete frame (fixed header included) with mqtt-packet, for the packet types that
 * are rare enough not to need a hand-written path (CONNECT, SUBSCRIBE, UNSUBSCRIBE, DISCONNECT,
 * AUTH). `frame` must be owned by the caller: mqtt-packet returns views into it.
 */
export function parseWithMqttPacket(frame: Buffer, ctx: DelegateContext): Packet {
  // A fresh parser per frame keeps no state between packets; these packets are rare.
  const settings = ctx.version === undefined ? {} : { protocolVersion: ctx.version, bridgeMode: ctx.bridgeMode }
  const inner = createPacketParser(settings) as unknown as PacketParserInternals
  inner._parseString = parseStrictString
  inner._parseProperties = parseExactProperties
  let parsed: Packet | undefined
  let consumed = -1
  let failure: Error | undefined
  inner.on('packet', (packet) => {
    parsed = packet
    // mqtt-packet emits before it resets its cursor, so this is how far the body was read.
    consumed = inner._pos
  })
  inner.on('error', (error) => {
    failure ??= error
  })
  try {
    inner.parse(frame)
  } catch (error) {
    // mqtt-packet can throw on input it does not anticipate; to the peer that is still a malformed packet.
    failure ??= error instanceof Error ? error : new Error(String(error))
  }
  if (failure !== undefined) throw failure instanceof CodecError ? failure : malformed(failure.message)
  if (parsed === undefined) throw malformed('incomplete packet')
  // mqtt-packet does not notice bytes left over after the last field.
  if (consumed !== parsed.length) throw malformed(`${parsed.cmd.toUpperCase()} has ${(parsed.length ?? 0) - consumed} unexpected bytes at its end`)
  return parsed
}
