import type { Message as AmqpMessage } from 'rhea'
import { FIXED_WIDTH } from './encoding-guard.js'

/** [AMQP 3.2] Section descriptors. */
const DELIVERY_ANNOTATIONS = 0x71
const MESSAGE_ANNOTATIONS = 0x72
const HEADER = 0x70
const PROPERTIES = 0x73
const APPLICATION_PROPERTIES = 0x74
const DATA = 0x75
const AMQP_VALUE = 0x77
const FOOTER = 0x78

/** Field names of the header (§3.2.1) and properties (§3.2.4) lists, in order, as rhea names them. */
const HEADER_FIELDS = ['durable', 'priority', 'ttl', 'first_acquirer', 'delivery_count']
const PROPERTY_FIELDS = [
  'message_id',
  'user_id',
  'to',
  'subject',
  'reply_to',
  'correlation_id',
  'content_type',
  'content_encoding',
  'absolute_expiry_time',
  'creation_time',
  'group_id',
  'group_sequence',
  'reply_to_group_id',
]

/** Thrown inside the decoder for anything it does not take: the caller falls back to rhea. */
const UNSUPPORTED = Symbol('unsupported')

/** The body as rhea gives it for data sections (`message.body.content`, `multiple` for several). */
interface DataBody {
  typecode: number
  content: Buffer | Buffer[]
  multiple?: boolean
}

/**
 * A cursor over one message; every read checks its bounds, so a short or malformed message ends
 * in `UNSUPPORTED` rather than a wrong value.
 */
class Cursor {
  pos = 0
  constructor(readonly buf: Buffer) {}

  need(n: number): number {
    const at = this.pos
    if (at + n > this.buf.length) throw UNSUPPORTED
    this.pos = at + n
    return at
  }

  u8(): number {
    return this.buf[this.need(1)] as number
  }

  u32(): number {
    return this.buf.readUInt32BE(this.need(4))
  }

  /** A 64-bit integer as a number, when it is one exactly (else rhea's own forms apply). */
  i64(signed: boolean): number {
    const at = this.need(8)
    const value = signed ? this.buf.readBigInt64BE(at) : this.buf.readBigUInt64BE(at)
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) throw UNSUPPORTED
    return Number(value)
  }

  bytes(n: number): Buffer {
    const at = this.need(n)
    return this.buf.subarray(at, at + n)
  }
}

/**
 * [AMQP 1.6] A primitive value as rhea's decoder returns it (numbers, booleans, strings, symbols
 * as strings, binaries and uuids as Buffers, timestamps as Dates, null). Described values,
 * compounds, arrays, decimals and chars are left to rhea.
 */
function primitive(c: Cursor): unknown {
  const code = c.u8()
  switch (code) {
    case 0x40:
      return null
    case 0x41:
      return true
    case 0x42:
      return false
    case 0x56:
      return c.u8() !== 0
    case 0x50:
      return c.u8()
    case 0x51:
      return c.buf.readInt8(c.need(1))
    case 0x60:
      return c.buf.readUInt16BE(c.need(2))
    case 0x61:
      return c.buf.readInt16BE(c.need(2))
    case 0x43:
    case 0x44:
      return 0
    case 0x52:
    case 0x53:
      return c.u8()
    case 0x54:
    case 0x55:
      return c.buf.readInt8(c.need(1))
    case 0x70:
      return c.u32()
    case 0x71:
      return c.buf.readInt32BE(c.need(4))
    case 0x72:
      return c.buf.readFloatBE(c.need(4))
    case 0x82:
      return c.buf.readDoubleBE(c.need(8))
    case 0x80:
      return c.i64(false)
    case 0x81:
      return c.i64(true)
    case 0x83:
      return new Date(c.i64(true))
    case 0x98:
      return c.bytes(16)
    case 0xa0:
      return c.bytes(c.u8())
    case 0xb0:
      return c.bytes(c.u32())
    case 0xa1:
      return c.bytes(c.u8()).toString('utf8')
    case 0xb1:
      return c.bytes(c.u32()).toString('utf8')
    case 0xa3:
      return c.bytes(c.u8()).toString('ascii')
    case 0xb3:
      return c.bytes(c.u32()).toString('ascii')
    default:
      throw UNSUPPORTED
  }
}

/** A list or map header (§1.6.22-1.6.25): its element count, the cursor left at its first element. */
function compound(c: Cursor, list: boolean): number {
  const code = c.u8()
  if (list && code === 0x45) return 0
  if (code === (list ? 0xc0 : 0xc1)) {
    c.need(1)
    return c.u8()
  }
  if (code === (list ? 0xd0 : 0xd1)) {
    c.need(4)
    return c.u32()
  }
  throw UNSUPPORTED
}

/**
 * Any value, walked to its end without keeping it (annotations and footers), element by element
 * so that it is as well-formed as rhea's decoder requires. Arrays are left to rhea.
 */
function skip(c: Cursor, depth = 0): void {
  if (depth > 32) throw UNSUPPORTED
  const code = c.u8()
  if (code === 0x00) {
    skip(c, depth + 1)
    skip(c, depth + 1)
    return
  }
  const width = FIXED_WIDTH.get(code)
  if (width !== undefined) {
    c.need(width)
    return
  }
  switch (code) {
    case 0xa0:
    case 0xa1:
    case 0xa3:
      c.need(c.u8())
      return
    case 0xb0:
    case 0xb1:
    case 0xb3:
      c.need(c.u32())
      return
    case 0xc0:
    case 0xc1:
    case 0xd0:
    case 0xd1: {
      c.pos--
      const count = compound(c, code === 0xc0 || code === 0xd0)
      for (let i = 0; i < count; i++) skip(c, depth + 1)
      return
    }
    default:
      throw UNSUPPORTED
  }
}

/** A described list of primitives onto `msg`, as rhea's composite sections unwrap (null fields left out). */
function fields(c: Cursor, names: readonly string[], msg: Record<string, unknown>): void {
  const count = compound(c, true)
  for (let i = 0; i < count; i++) {
    const value = primitive(c)
    const name = names[i]
    if (name !== undefined && value !== null) msg[name] = value
  }
}

function applicationProperties(c: Cursor): Record<string, unknown> {
  const count = compound(c, false)
  const out: Record<string, unknown> = {}
  for (let i = 0; i + 1 < count; i += 2) {
    const key = primitive(c)
    out[String(key)] = primitive(c)
  }
  return out
}

/**
 * The message of one transfer as rhea's `message.decode` gives it, for what senders commonly send:
 * header, properties and application-properties of primitive values, one or more data sections or
 * an amqp-value that is a string or binary; annotations and footer skipped (`toCoreMessage` keeps
 * none of them). Undefined for anything else (other body types, described or compound values,
 * malformed bytes): rhea's decoder then decides, and reports what is wrong.
 */
export function decodeMessage(payload: Buffer): AmqpMessage | undefined {
  const c = new Cursor(payload)
  const msg: Record<string, unknown> = {}
  try {
    while (c.pos < payload.length) {
      if (c.u8() !== 0x00) return undefined
      const descriptor = c.u8()
      if (descriptor !== 0x53) return undefined
      const section = c.u8()
      switch (section) {
        case HEADER:
          fields(c, HEADER_FIELDS, msg)
          break
        case PROPERTIES:
          fields(c, PROPERTY_FIELDS, msg)
          break
        case APPLICATION_PROPERTIES:
          msg.application_properties = applicationProperties(c)
          break
        case DATA: {
          const code = c.u8()
          if (code !== 0xa0 && code !== 0xb0) return undefined
          const content = c.bytes(code === 0xa0 ? c.u8() : c.u32())
          const body = msg.body as DataBody | undefined
          if (body === undefined) msg.body = { typecode: DATA, content }
          else if (body.typecode !== DATA) return undefined
          else if (body.multiple === true) (body.content as Buffer[]).push(content)
          else {
            body.multiple = true
            body.content = [body.content as Buffer, content]
          }
          break
        }
        case AMQP_VALUE: {
          const value = primitive(c)
          if (typeof value !== 'string' && !Buffer.isBuffer(value)) return undefined
          msg.body = value
          break
        }
        case DELIVERY_ANNOTATIONS:
        case MESSAGE_ANNOTATIONS:
        case FOOTER:
          skip(c)
          break
        default:
          return undefined
      }
    }
  } catch (err) {
    if (err === UNSUPPORTED) return undefined
    throw err
  }
  return msg as unknown as AmqpMessage
}
