import { malformed, protocolViolation, type CodecError } from './errors.js'
import { isValidUtf8Range } from './utf8.js'
import { readVarint, type VarintRead } from './varint.js'

/** MQTT 5 property identifiers the hand-written parse paths read (MQTT 5 §2.2.2.2). */
export const PropertyId = {
  PayloadFormatIndicator: 0x01,
  MessageExpiryInterval: 0x02,
  ContentType: 0x03,
  ResponseTopic: 0x08,
  CorrelationData: 0x09,
  SubscriptionIdentifier: 0x0b,
  ReasonString: 0x1f,
  TopicAlias: 0x23,
  UserProperty: 0x26,
} as const

type Kind = 'flag' | 'int16' | 'int32' | 'var' | 'string' | 'binary' | 'pair'

/** Names and shapes exactly as mqtt-packet produces them, so both parse paths agree. */
const SPECS = new Map<number, { name: string; kind: Kind }>([
  [PropertyId.PayloadFormatIndicator, { name: 'payloadFormatIndicator', kind: 'flag' }],
  [PropertyId.MessageExpiryInterval, { name: 'messageExpiryInterval', kind: 'int32' }],
  [PropertyId.ContentType, { name: 'contentType', kind: 'string' }],
  [PropertyId.ResponseTopic, { name: 'responseTopic', kind: 'string' }],
  [PropertyId.CorrelationData, { name: 'correlationData', kind: 'binary' }],
  [PropertyId.SubscriptionIdentifier, { name: 'subscriptionIdentifier', kind: 'var' }],
  [PropertyId.ReasonString, { name: 'reasonString', kind: 'string' }],
  [PropertyId.TopicAlias, { name: 'topicAlias', kind: 'int16' }],
  [PropertyId.UserProperty, { name: 'userProperties', kind: 'pair' }],
])

type UserProperties = Record<string, string | string[]>

/** Where a property section lives and what it may hold. */
export interface PropertyContext {
  /** Packet name for messages, e.g. `PUBLISH`. */
  packet: string
  allowed: ReadonlySet<number>
  /** When true, binary values are views of `buf`; otherwise they are copied so `buf` can go. */
  owned: boolean
}

const scratch: VarintRead = { value: 0, end: 0 }

/**
 * Reads a property section (length + properties) starting at `offset`; returns the offset after
 * it. `out` receives the properties; the caller decides whether an empty object is kept.
 */
export function readProperties(buf: Buffer, offset: number, limit: number, ctx: PropertyContext, out: Record<string, unknown>): number {
  readVarint(buf, offset, limit, scratch)
  // [MQTT-1.5.5-1] The Property Length is a Variable Byte Integer and must fit the packet.
  if (scratch.value < 0) throw malformed(`${ctx.packet} property length is not a valid Variable Byte Integer`, 'MQTT-1.5.5-1')
  let pos = scratch.end
  const end = pos + scratch.value
  if (end > limit) throw malformed(`${ctx.packet} property length exceeds the packet`)
  // Two 32-bit masks of identifiers seen so far; identifiers go up to 0x2a.
  let seenLow = 0
  let seenHigh = 0
  while (pos < end) {
    const id = buf[pos++] as number
    const spec = SPECS.get(id)
    // MQTT 5 §2.2.2.2: an identifier not valid for the packet type makes it a Malformed Packet.
    if (spec === undefined || !ctx.allowed.has(id)) throw malformed(`property 0x${id.toString(16)} is not valid in ${ctx.packet}`)
    if (id !== PropertyId.UserProperty) {
      // MQTT 5 §2.2.2.2 / §3.x.2.x: every property except User Property appears at most once.
      const bit = 1 << (id & 31)
      const seen = id < 32 ? seenLow : seenHigh
      if ((seen & bit) !== 0) throw protocolViolation(`${spec.name} appears more than once in ${ctx.packet}`)
      if (id < 32) seenLow |= bit
      else seenHigh |= bit
    }
    pos = readValue(buf, pos, end, spec.name, spec.kind, ctx, out)
  }
  return end
}

function readValue(buf: Buffer, pos: number, end: number, name: string, kind: Kind, ctx: PropertyContext, out: Record<string, unknown>): number {
  switch (kind) {
    case 'flag': {
      need(pos, 1, end, name)
      const value = buf[pos] as number
      // MQTT 5 §3.3.2.3.2: any value other than 0 or 1 is a Protocol Error.
      if (value > 1) throw protocolViolation(`${name} must be 0 or 1, got ${value}`)
      out[name] = value === 1
      return pos + 1
    }
    case 'int16':
      need(pos, 2, end, name)
      out[name] = buf.readUInt16BE(pos)
      return pos + 2
    case 'int32':
      need(pos, 4, end, name)
      out[name] = buf.readUInt32BE(pos)
      return pos + 4
    case 'var':
      readVarint(buf, pos, end, scratch)
      if (scratch.value < 0) throw malformed(`${name} is not a valid Variable Byte Integer`, 'MQTT-1.5.5-1')
      out[name] = scratch.value
      return scratch.end
    case 'string': {
      const stringEnd = stringBounds(buf, pos, end, name)
      out[name] = buf.toString('utf8', pos + 2, stringEnd)
      return stringEnd
    }
    case 'binary': {
      need(pos, 2, end, name)
      const dataEnd = pos + 2 + buf.readUInt16BE(pos)
      if (dataEnd > end) throw malformed(`${name} runs past the property section`)
      const view = buf.subarray(pos + 2, dataEnd)
      out[name] = ctx.owned ? view : Buffer.from(view)
      return dataEnd
    }
    case 'pair': {
      const keyEnd = stringBounds(buf, pos, end, name)
      const valueEnd = stringBounds(buf, keyEnd, end, name)
      addUserProperty(out, buf.toString('utf8', pos + 2, keyEnd), buf.toString('utf8', keyEnd + 2, valueEnd))
      return valueEnd
    }
  }
}

/** Same shape as mqtt-packet: a null-prototype map, repeated names collected into arrays, in order. */
function addUserProperty(out: Record<string, unknown>, key: string, value: string): void {
  let map = out['userProperties'] as UserProperties | undefined
  if (map === undefined) {
    map = Object.create(null) as UserProperties
    out['userProperties'] = map
  }
  const previous = map[key]
  if (previous === undefined) map[key] = value
  else if (Array.isArray(previous)) previous.push(value)
  else map[key] = [previous, value]
}

function need(pos: number, bytes: number, end: number, name: string): void {
  if (pos + bytes > end) throw malformed(`${name} runs past the property section`)
}

/** Validates a UTF-8 string field at `pos`, returns the offset after it. */
function stringBounds(buf: Buffer, pos: number, end: number, what: string): number {
  if (pos + 2 > end) throw malformed(`${what} is truncated`)
  const stringEnd = pos + 2 + buf.readUInt16BE(pos)
  if (stringEnd > end) throw malformed(`${what} runs past the packet`)
  if (!isValidUtf8Range(buf, pos + 2, stringEnd)) throw invalidString(buf, pos + 2, stringEnd, what)
  return stringEnd
}

/** The error for a string field that failed `isValidUtf8Range`, naming the rule it broke. */
export function invalidString(buf: Buffer, start: number, end: number, what: string): CodecError {
  return buf.subarray(start, end).includes(0)
    ? malformed(`${what} contains U+0000`, 'MQTT-1.5.4-2')
    : malformed(`${what} is not well-formed UTF-8`, 'MQTT-1.5.4-1')
}
