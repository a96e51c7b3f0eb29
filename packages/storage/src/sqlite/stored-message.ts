import type { Message, MessageProperties, QoS, UserProperty } from '@fluxmq/core'

/**
 * The binary form of a Message inside an offline segment (schema v4). Version 1:
 *
 *   u16 flags | f64 publishedAt | [f64 expiresAt] | str topic | [str publisherId]
 *   | [str contentType] | [str responseTopic] | [bytes correlationData]
 *   | [u32 count, count × (str name, str value)] | bytes payload
 *
 * str and bytes are a u32 byte length and the bytes (UTF-8 for str); every integer is
 * little-endian; a bracketed field is present only when its flag is set. Times are doubles so
 * any integer millisecond value up to 2^53 round-trips exactly. The version is written once per
 * segment (SEGMENT_FORMAT in segments.ts), not per message.
 */
export const STORED_MESSAGE_VERSION = 1

const QOS_MASK = 0b11
const RETAIN = 1 << 2
const EXPIRES_AT = 1 << 3
const PUBLISHER_ID = 1 << 4
const PAYLOAD_FORMAT = 1 << 5
const PAYLOAD_FORMAT_UTF8 = 1 << 6
const CONTENT_TYPE = 1 << 7
const RESPONSE_TOPIC = 1 << 8
const CORRELATION_DATA = 1 << 9
const USER_PROPERTIES = 1 << 10

/** UTF-8 never needs more than 3 bytes per UTF-16 code unit. */
const MAX_UTF8_PER_UNIT = 3
/** Strings up to this length are tried as ASCII byte by byte before handing them to Buffer#write. */
const ASCII_LOOP_MAX = 64

/**
 * A growing byte buffer messages are encoded straight into: no intermediate Buffer per message
 * or per string. `bytes` is replaced when it grows; what was written is `bytes[0, length)`.
 */
export class ByteWriter {
  bytes: Buffer
  length = 0

  constructor(capacity: number) {
    this.bytes = Buffer.allocUnsafe(capacity)
  }

  /** Makes room for n more bytes. */
  reserve(n: number): void {
    const needed = this.length + n
    if (needed <= this.bytes.length) return
    let capacity = this.bytes.length * 2
    while (capacity < needed) capacity *= 2
    const grown = Buffer.allocUnsafe(capacity)
    this.bytes.copy(grown, 0, 0, this.length)
    this.bytes = grown
  }

  u8(value: number): void {
    this.reserve(1)
    this.length = this.bytes.writeUInt8(value, this.length)
  }

  u16(value: number): void {
    this.reserve(2)
    this.length = this.bytes.writeUInt16LE(value, this.length)
  }

  u32(value: number): void {
    this.reserve(4)
    this.length = this.bytes.writeUInt32LE(value, this.length)
  }

  f64(value: number): void {
    this.reserve(8)
    this.length = this.bytes.writeDoubleLE(value, this.length)
  }

  str(value: string): void {
    // Reserving the worst case skips measuring the string (Buffer.byteLength) before writing it.
    const n = value.length
    this.reserve(4 + n * MAX_UTF8_PER_UNIT)
    const bytes = this.bytes
    const start = this.length + 4
    // Short ASCII strings (topics, client ids) are copied here: cheaper than a call into C++.
    let written = 0
    if (n <= ASCII_LOOP_MAX) {
      while (written < n) {
        const unit = value.charCodeAt(written)
        if (unit > 0x7f) break
        bytes[start + written] = unit
        written++
      }
    }
    if (written < n) written = bytes.write(value, start, 'utf8')
    bytes.writeUInt32LE(written, this.length)
    this.length = start + written
  }

  blob(value: Buffer): void {
    this.reserve(4 + value.length)
    this.bytes.writeUInt32LE(value.length, this.length)
    value.copy(this.bytes, this.length + 4)
    this.length += 4 + value.length
  }
}

/** Appends the version 1 form of `message` to `out`. The adapter cache `wire` is never written. */
export function encodeMessage(out: ByteWriter, message: Message): void {
  const p = message.properties
  let flags = message.qos | (message.retain ? RETAIN : 0)
  if (message.expiresAt !== undefined) flags |= EXPIRES_AT
  if (message.publisherId !== undefined) flags |= PUBLISHER_ID
  if (p.payloadFormatIndicator !== undefined) flags |= p.payloadFormatIndicator ? PAYLOAD_FORMAT | PAYLOAD_FORMAT_UTF8 : PAYLOAD_FORMAT
  if (p.contentType !== undefined) flags |= CONTENT_TYPE
  if (p.responseTopic !== undefined) flags |= RESPONSE_TOPIC
  if (p.correlationData !== undefined) flags |= CORRELATION_DATA
  if (p.userProperties !== undefined) flags |= USER_PROPERTIES
  out.u16(flags)
  out.f64(message.publishedAt)
  if (message.expiresAt !== undefined) out.f64(message.expiresAt)
  out.str(message.topic)
  if (message.publisherId !== undefined) out.str(message.publisherId)
  if (p.contentType !== undefined) out.str(p.contentType)
  if (p.responseTopic !== undefined) out.str(p.responseTopic)
  if (p.correlationData !== undefined) out.blob(p.correlationData)
  if (p.userProperties !== undefined) {
    out.u32(p.userProperties.length)
    for (const [name, value] of p.userProperties) {
      out.str(name)
      out.str(value)
    }
  }
  out.blob(message.payload)
}

/**
 * A message on its own (an inflight row's `message`): a version byte, then the message, appended
 * to `out`. Returns the view of `out` to bind, valid until `out` is reset (length 0) and reused,
 * so that one statement can bind several.
 */
export function encodeStandalone(out: ByteWriter, message: Message): Buffer {
  const start = out.length
  out.u8(STORED_MESSAGE_VERSION)
  encodeMessage(out, message)
  // Growing later copies into a new buffer and leaves this view's one as it is.
  return out.bytes.subarray(start, out.length)
}

export function decodeStandalone(bytes: Buffer): Message {
  if (bytes[0] !== STORED_MESSAGE_VERSION) throw new MalformedMessageError(`unknown message format ${bytes[0] ?? '(empty)'}`)
  return decodeMessage(bytes, 1, bytes.length)
}

/** Thrown for bytes that are not a version 1 message; the caller reports the segment as damaged. */
export class MalformedMessageError extends Error {
  override readonly name = 'MalformedMessageError'
}

/**
 * Decodes the version 1 message in `bytes[start, end)`. Payload and correlation data are copies,
 * so a message handed to the broker does not keep the whole segment it came from alive.
 */
export function decodeMessage(bytes: Buffer, start: number, end: number): Message {
  const reader = new Reader(bytes, start, end)
  const flags = reader.u16()
  const publishedAt = reader.f64()
  const expiresAt = (flags & EXPIRES_AT) === 0 ? undefined : reader.f64()
  const topic = reader.str()
  const publisherId = (flags & PUBLISHER_ID) === 0 ? undefined : reader.str()
  const properties: MessageProperties = {}
  if ((flags & PAYLOAD_FORMAT) !== 0) properties.payloadFormatIndicator = (flags & PAYLOAD_FORMAT_UTF8) !== 0
  if ((flags & CONTENT_TYPE) !== 0) properties.contentType = reader.str()
  if ((flags & RESPONSE_TOPIC) !== 0) properties.responseTopic = reader.str()
  if ((flags & CORRELATION_DATA) !== 0) properties.correlationData = reader.blob()
  if ((flags & USER_PROPERTIES) !== 0) {
    const count = reader.u32()
    const pairs: UserProperty[] = []
    for (let i = 0; i < count; i++) pairs.push([reader.str(), reader.str()])
    properties.userProperties = pairs
  }
  const payload = reader.blob()
  if (reader.offset !== end) throw new MalformedMessageError(`${end - reader.offset} bytes after the payload`)
  const qos = flags & QOS_MASK
  if (qos === 3) throw new MalformedMessageError('QoS 3')
  const message: Message = {
    topic,
    payload,
    qos: qos as QoS,
    retain: (flags & RETAIN) !== 0,
    properties,
    publishedAt,
    ...(expiresAt === undefined ? {} : { expiresAt }),
    ...(publisherId === undefined ? {} : { publisherId }),
  }
  return message
}

class Reader {
  constructor(
    private readonly bytes: Buffer,
    public offset: number,
    private readonly end: number,
  ) {}

  private take(n: number): number {
    const at = this.offset
    if (at + n > this.end) throw new MalformedMessageError(`field of ${n} bytes runs past the message end`)
    this.offset = at + n
    return at
  }

  u16(): number {
    return this.bytes.readUInt16LE(this.take(2))
  }

  u32(): number {
    return this.bytes.readUInt32LE(this.take(4))
  }

  f64(): number {
    return this.bytes.readDoubleLE(this.take(8))
  }

  str(): string {
    const n = this.u32()
    const at = this.take(n)
    return this.bytes.toString('utf8', at, at + n)
  }

  blob(): Buffer {
    const n = this.u32()
    const at = this.take(n)
    const copy = Buffer.allocUnsafe(n)
    this.bytes.copy(copy, 0, at, at + n)
    return copy
  }
}
