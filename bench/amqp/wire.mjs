// The AMQP 1.0 type system, as little of it as the lean client (amqp/lean-client.mjs) needs:
// encoders for the few values it sends and one generic decoder for whatever a broker sends back.
// Trusted peers only (the brokers under test): a malformed frame throws and ends the run.

export const SASL_HEADER = Buffer.from('AMQP\x03\x01\x00\x00', 'latin1')
export const AMQP_HEADER = Buffer.from('AMQP\x00\x01\x00\x00', 'latin1')

/** Descriptor codes of the performatives, SASL frames, termini, outcomes and sections used. */
export const CODE = {
  open: 0x10,
  begin: 0x11,
  attach: 0x12,
  flow: 0x13,
  transfer: 0x14,
  disposition: 0x15,
  detach: 0x16,
  end: 0x17,
  close: 0x18,
  saslMechanisms: 0x40,
  saslInit: 0x41,
  saslOutcome: 0x44,
  source: 0x28,
  target: 0x29,
  accepted: 0x24,
  data: 0x75,
}

export const NULL = Buffer.from([0x40])
export const TRUE = Buffer.from([0x41])
export const FALSE = Buffer.from([0x42])

export function uint(value) {
  const out = Buffer.allocUnsafe(5)
  out[0] = 0x70
  out.writeUInt32BE(value >>> 0, 1)
  return out
}

export function ubyte(value) {
  return Buffer.from([0x50, value])
}

function variable(small, large, bytes) {
  if (bytes.length < 256) return Buffer.concat([Buffer.from([small, bytes.length]), bytes])
  const head = Buffer.allocUnsafe(5)
  head[0] = large
  head.writeUInt32BE(bytes.length, 1)
  return Buffer.concat([head, bytes])
}

export const string = (text) => variable(0xa1, 0xb1, Buffer.from(text, 'utf8'))
export const symbol = (text) => variable(0xa3, 0xb3, Buffer.from(text, 'ascii'))
export const binary = (bytes) => variable(0xa0, 0xb0, bytes)

/** A list32 of encoded values: one width for every list keeps the encoder trivial. */
export function list(items) {
  const body = Buffer.concat(items)
  const head = Buffer.allocUnsafe(9)
  head[0] = 0xd0
  head.writeUInt32BE(body.length + 4, 1)
  head.writeUInt32BE(items.length, 5)
  return Buffer.concat([head, body])
}

export function described(code, value) {
  return Buffer.concat([Buffer.from([0x00, 0x53, code]), value])
}

/** One frame: 8-byte header (size, data offset 2, type 0 AMQP or 1 SASL, channel), then body. */
export function frame(body, type = 0, channel = 0) {
  const head = Buffer.allocUnsafe(8)
  head.writeUInt32BE(8 + body.length, 0)
  head[4] = 2
  head[5] = type
  head.writeUInt16BE(channel, 6)
  return Buffer.concat([head, body])
}

export const performative = (code, fields, type = 0) => frame(described(code, list(fields)), type)

/** A described value as the decoder returns it. */
export class Described {
  constructor(descriptor, value) {
    this.descriptor = descriptor
    this.value = value
  }
}

/**
 * Decodes values from one buffer; `at` is the read position, advanced past each value read.
 * Lists and arrays are JS arrays, maps plain objects, ulongs and longs numbers (the descriptors
 * and counters a broker sends fit), binaries views into the buffer.
 */
export class Decoder {
  constructor(buffer, at = 0) {
    this.buffer = buffer
    this.at = at
  }

  value() {
    return this.typed(this.buffer[this.at++])
  }

  typed(code) {
    const b = this.buffer
    const at = this.at
    switch (code) {
      case 0x00: {
        const descriptor = this.value()
        return new Described(descriptor, this.value())
      }
      case 0x40:
        return null
      case 0x41:
        return true
      case 0x42:
        return false
      case 0x43:
      case 0x44:
        return 0
      case 0x45:
        return []
      case 0x56:
        this.at = at + 1
        return b[at] !== 0
      case 0x50:
      case 0x52:
      case 0x53:
        this.at = at + 1
        return b[at]
      case 0x51:
      case 0x54:
      case 0x55:
        this.at = at + 1
        return b.readInt8(at)
      case 0x60:
        this.at = at + 2
        return b.readUInt16BE(at)
      case 0x61:
        this.at = at + 2
        return b.readInt16BE(at)
      case 0x70:
      case 0x73:
        this.at = at + 4
        return b.readUInt32BE(at)
      case 0x71:
        this.at = at + 4
        return b.readInt32BE(at)
      case 0x72:
        this.at = at + 4
        return b.readFloatBE(at)
      case 0x80:
        this.at = at + 8
        return Number(b.readBigUInt64BE(at))
      case 0x81:
      case 0x83:
        this.at = at + 8
        return Number(b.readBigInt64BE(at))
      case 0x82:
        this.at = at + 8
        return b.readDoubleBE(at)
      case 0x74:
        return this.bytes(4)
      case 0x84:
        return this.bytes(8)
      case 0x94:
      case 0x98:
        return this.bytes(16)
      case 0xa0:
        this.at = at + 1
        return this.bytes(b[at])
      case 0xb0:
        this.at = at + 4
        return this.bytes(b.readUInt32BE(at))
      case 0xa1:
      case 0xa3:
        this.at = at + 1
        return this.text(b[at])
      case 0xb1:
      case 0xb3:
        this.at = at + 4
        return this.text(b.readUInt32BE(at))
      case 0xc0:
        this.at = at + 2
        return this.list(b[at + 1])
      case 0xd0:
        this.at = at + 8
        return this.list(b.readUInt32BE(at + 4))
      case 0xc1:
        this.at = at + 2
        return this.map(b[at + 1])
      case 0xd1:
        this.at = at + 8
        return this.map(b.readUInt32BE(at + 4))
      case 0xe0:
        this.at = at + 2
        return this.array(b[at + 1])
      case 0xf0:
        this.at = at + 8
        return this.array(b.readUInt32BE(at + 4))
      default:
        throw new Error(`AMQP decode: unknown type code 0x${code?.toString(16)} at ${at - 1}`)
    }
  }

  bytes(length) {
    const start = this.at
    this.at = start + length
    if (this.at > this.buffer.length) throw new Error('AMQP decode: value past the end of its frame')
    return this.buffer.subarray(start, this.at)
  }

  text(length) {
    return this.bytes(length).toString('utf8')
  }

  list(count) {
    const items = new Array(count)
    for (let i = 0; i < count; i += 1) items[i] = this.value()
    return items
  }

  map(count) {
    const entries = {}
    for (let i = 0; i < count; i += 2) {
      const key = this.value()
      entries[String(key)] = this.value()
    }
    return entries
  }

  array(count) {
    let code = this.buffer[this.at++]
    let descriptor = null
    if (code === 0x00) {
      descriptor = this.value()
      code = this.buffer[this.at++]
    }
    const items = new Array(count)
    for (let i = 0; i < count; i += 1) items[i] = descriptor === null ? this.typed(code) : new Described(descriptor, this.typed(code))
    return items
  }
}
