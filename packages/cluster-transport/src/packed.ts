// The compact encoding of a forwarded batch (`ForwardBatch.packed`): the core's messages, with
// their forwarding routing, written straight into one buffer per batch and read back straight
// into core messages. Encoding each message as a protobuf `Message` through protobuf-es costs a
// reflective walk and a handful of objects per message on both sides, which bounded the forward
// path; this is one pass over plain fields, and payloads are read back as views of the frame.
//
// A batch: the sender's arrivals (varint: how many sessions had begun to be routed at the sender
// when it routed these messages; see ForwardRouting.arrivals), the routing sequence of its first
// message (varint; InboundBatch.seqs), then its messages. Per message:
//   flags     u8: bits 0-1 QoS, 2 retain, 3 expires_at, 4 publisher_id, 5 properties,
//                 6 routing
//   topic     string
//   payload   bytes
//   published f64 (ms since the epoch; exact for every integer below 2^53)
//   [expires  f64] [publisher string] [properties] [routing]
//   seq       zigzag varint: its routing sequence minus the previous message's (the first's
//             minus the batch's)
// routing: u8 flags (bit 0 other_nodes, 1 relay_for, 2 resend), then the present parts in that order:
//   other_nodes: varint count, strings
//   relay_for: string, then varint arrivals + 1 (0: none), then varint carried (0: none; else
//     1 + delivery_id * 8 + retain * 4 + received * 2 + (qos - 1)), then varint origin seq + 1
//     (0: none), followed by the origin node string when present
//   resend: varint count, refusing node strings, then u8 applied (0 or 1)
// properties: u8 flags (bit 0 payload_format_indicator present, 1 its value, 2 content_type,
//   3 response_topic, 4 correlation_data, 5 user properties), then the present fields in that
//   order; user properties as a varint count of (name, value) strings.
// string / bytes: varint length, then the UTF-8 or raw bytes.
import type { CarriedDelivery, Message, MessageProperties, QoS, UserProperty } from '@fluxmq/core'
import { TransportError, TransportErrorCode } from './errors.js'
import type { ForwardRouting } from './handlers.js'

const RETAIN = 0x04
const EXPIRES = 0x08
const PUBLISHER = 0x10
const PROPERTIES = 0x20
const ROUTING = 0x40

const OTHER_NODES = 0x01
const RELAY_FOR = 0x02
const RESEND = 0x04

const PFI = 0x01
const PFI_SET = 0x02
const CONTENT_TYPE = 0x04
const RESPONSE_TOPIC = 0x08
const CORRELATION = 0x10
const USER_PROPERTIES = 0x20

/** A carried delivery as one varint (see the layout above); 0 for none. Delivery ids are 32-bit, so it stays below 2^36. */
function carriedCode(c: CarriedDelivery | undefined): number {
  if (c === undefined) return 0
  return 1 + c.deliveryId * 8 + (c.retain ? 4 : 0) + (c.received ? 2 : 0) + (c.qos - 1)
}

function carriedDelivery(code: number): CarriedDelivery {
  const bits = (code - 1) % 8
  return { deliveryId: Math.floor((code - 1) / 8), qos: (bits & 1) === 0 ? 1 : 2, retain: (bits & 4) !== 0, received: (bits & 2) !== 0 }
}

function hasProperties(p: MessageProperties): boolean {
  return p.payloadFormatIndicator !== undefined || p.contentType !== undefined || p.responseTopic !== undefined || p.correlationData !== undefined || p.userProperties !== undefined
}

/** Bytes of `n` (a non-negative safe integer) as a protobuf varint. */
export function varintSize(n: number): number {
  let size = 1
  while (n >= 0x80) {
    n = Math.floor(n / 0x80)
    size += 1
  }
  return size
}

function stringSize(s: string): number {
  const bytes = Buffer.byteLength(s, 'utf8')
  return varintSize(bytes) + bytes
}

function propertiesSize(p: MessageProperties): number {
  let size = 1
  if (p.contentType !== undefined) size += stringSize(p.contentType)
  if (p.responseTopic !== undefined) size += stringSize(p.responseTopic)
  if (p.correlationData !== undefined) size += varintSize(p.correlationData.length) + p.correlationData.length
  if (p.userProperties !== undefined) {
    size += varintSize(p.userProperties.length)
    for (const [name, value] of p.userProperties) size += stringSize(name) + stringSize(value)
  }
  return size
}

function messageSize(m: Message, routing: ForwardRouting | undefined): number {
  let size = 1 + stringSize(m.topic) + varintSize(m.payload.length) + m.payload.length + 8
  if (m.expiresAt !== undefined) size += 8
  if (m.publisherId !== undefined) size += stringSize(m.publisherId)
  if (hasProperties(m.properties)) size += propertiesSize(m.properties)
  return routing === undefined ? size : size + routingSize(routing)
}

function nodesSize(nodes: readonly string[]): number {
  let size = varintSize(nodes.length)
  for (const node of nodes) size += stringSize(node)
  return size
}

function routingSize(routing: ForwardRouting): number {
  let size = 1
  if (routing.otherNodes !== undefined) size += nodesSize(routing.otherNodes)
  if (routing.relayFor !== undefined) {
    size += stringSize(routing.relayFor) + varintSize(routing.arrivals === undefined ? 0 : routing.arrivals + 1) + varintSize(carriedCode(routing.carried))
    size += routing.origin === undefined ? 1 : varintSize(routing.origin.seq + 1) + stringSize(routing.origin.node)
  }
  if (routing.resend !== undefined) size += nodesSize(routing.resend.refusedBy) + 1
  return size
}

class Writer {
  offset = 0
  constructor(readonly buf: Buffer) {}

  varint(n: number): void {
    while (n >= 0x80) {
      this.buf[this.offset++] = (n % 0x80) | 0x80
      n = Math.floor(n / 0x80)
    }
    this.buf[this.offset++] = n
  }

  string(s: string): void {
    const bytes = Buffer.byteLength(s, 'utf8')
    this.varint(bytes)
    this.offset += this.buf.write(s, this.offset, bytes, 'utf8')
  }

  strings(list: readonly string[]): void {
    this.varint(list.length)
    for (const s of list) this.string(s)
  }

  bytes(b: Uint8Array): void {
    this.varint(b.length)
    this.buf.set(b, this.offset)
    this.offset += b.length
  }

  f64(n: number): void {
    this.buf.writeDoubleLE(n, this.offset)
    this.offset += 8
  }
}

/** Zigzag: small signed deltas as small unsigned varints (routing sequences mostly grow by a little). */
function zigzag(n: number): number {
  return n >= 0 ? n * 2 : -n * 2 - 1
}

function unzigzag(n: number): number {
  return n % 2 === 0 ? n / 2 : -(n + 1) / 2
}

/**
 * Encodes the sender's `arrivals` and messages (with their routing, index-aligned, entries
 * optional, and their routing sequences, index-aligned, 0 when absent) into one buffer.
 */
export function packMessages(messages: readonly Message[], routing: readonly (ForwardRouting | undefined)[] | undefined, arrivals = 0, seqs?: readonly number[]): Buffer {
  const first = seqs?.[0] ?? 0
  let size = varintSize(arrivals) + varintSize(first)
  let previous = first
  for (let i = 0; i < messages.length; i++) {
    const seq = seqs?.[i] ?? 0
    size += messageSize(messages[i] as Message, routing?.[i]) + varintSize(zigzag(seq - previous))
    previous = seq
  }
  const w = new Writer(Buffer.allocUnsafe(size))
  w.varint(arrivals)
  w.varint(first)
  previous = first
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i] as Message
    const r = routing?.[i]
    const props = hasProperties(m.properties)
    let flags = m.qos
    if (m.retain) flags |= RETAIN
    if (m.expiresAt !== undefined) flags |= EXPIRES
    if (m.publisherId !== undefined) flags |= PUBLISHER
    if (props) flags |= PROPERTIES
    if (r !== undefined) flags |= ROUTING
    w.buf[w.offset++] = flags
    w.string(m.topic)
    w.bytes(m.payload)
    w.f64(m.publishedAt)
    if (m.expiresAt !== undefined) w.f64(m.expiresAt)
    if (m.publisherId !== undefined) w.string(m.publisherId)
    if (props) writeProperties(w, m.properties)
    if (r !== undefined) writeRouting(w, r)
    const seq = seqs?.[i] ?? 0
    w.varint(zigzag(seq - previous))
    previous = seq
  }
  return w.buf
}

function writeRouting(w: Writer, r: ForwardRouting): void {
  w.buf[w.offset++] = (r.otherNodes === undefined ? 0 : OTHER_NODES) | (r.relayFor === undefined ? 0 : RELAY_FOR) | (r.resend === undefined ? 0 : RESEND)
  if (r.otherNodes !== undefined) w.strings(r.otherNodes)
  if (r.relayFor !== undefined) {
    w.string(r.relayFor)
    w.varint(r.arrivals === undefined ? 0 : r.arrivals + 1)
    w.varint(carriedCode(r.carried))
    w.varint(r.origin === undefined ? 0 : r.origin.seq + 1)
    if (r.origin !== undefined) w.string(r.origin.node)
  }
  if (r.resend !== undefined) {
    w.strings(r.resend.refusedBy)
    w.buf[w.offset++] = r.resend.applied ? 1 : 0
  }
}

function writeProperties(w: Writer, p: MessageProperties): void {
  let flags = 0
  if (p.payloadFormatIndicator !== undefined) flags |= p.payloadFormatIndicator ? PFI | PFI_SET : PFI
  if (p.contentType !== undefined) flags |= CONTENT_TYPE
  if (p.responseTopic !== undefined) flags |= RESPONSE_TOPIC
  if (p.correlationData !== undefined) flags |= CORRELATION
  if (p.userProperties !== undefined) flags |= USER_PROPERTIES
  w.buf[w.offset++] = flags
  if (p.contentType !== undefined) w.string(p.contentType)
  if (p.responseTopic !== undefined) w.string(p.responseTopic)
  if (p.correlationData !== undefined) w.bytes(p.correlationData)
  if (p.userProperties !== undefined) {
    w.varint(p.userProperties.length)
    for (const [name, value] of p.userProperties) {
      w.string(name)
      w.string(value)
    }
  }
}

function truncated(): TransportError {
  return new TransportError(TransportErrorCode.Protocol, 'invalid packed batch: truncated')
}

class Reader {
  offset = 0
  constructor(readonly buf: Buffer) {}

  u8(): number {
    if (this.offset >= this.buf.length) throw truncated()
    return this.buf[this.offset++] as number
  }

  varint(): number {
    let n = 0
    let scale = 1
    for (let i = 0; i < 8; i++) {
      const byte = this.u8()
      n += (byte & 0x7f) * scale
      if (byte < 0x80) return n
      scale *= 0x80
    }
    throw new TransportError(TransportErrorCode.Protocol, 'invalid packed batch: varint too long')
  }

  /** A view of the next `length` bytes (of the received frame, not a copy). */
  slice(length: number): Buffer {
    const end = this.offset + length
    if (end > this.buf.length) throw truncated()
    const view = this.buf.subarray(this.offset, end)
    this.offset = end
    return view
  }

  string(): string {
    const length = this.varint()
    const end = this.offset + length
    if (end > this.buf.length) throw truncated()
    const s = this.buf.toString('utf8', this.offset, end)
    this.offset = end
    return s
  }

  strings(): string[] {
    const count = this.varint()
    const list: string[] = []
    // Each string takes a byte at least: a count beyond what is left ends as truncated.
    for (let i = 0; i < count; i++) list.push(this.string())
    return list
  }

  f64(): number {
    if (this.offset + 8 > this.buf.length) throw truncated()
    const n = this.buf.readDoubleLE(this.offset)
    this.offset += 8
    return n
  }
}

/** Decodes a packed batch; throws a Protocol TransportError on anything malformed. */
export function unpackMessages(bytes: Uint8Array): { arrivals: number; messages: Message[]; seqs: number[]; routing: (ForwardRouting | undefined)[] | undefined } {
  const r = new Reader(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
  const arrivals = r.varint()
  let seq = r.varint()
  const seqs: number[] = []
  const messages: Message[] = []
  let routing: (ForwardRouting | undefined)[] | undefined
  while (r.offset < r.buf.length) {
    const flags = r.u8()
    const qos = flags & 0x03
    if (qos === 3) throw new TransportError(TransportErrorCode.Protocol, 'invalid packed batch: QoS 3')
    const topic = r.string()
    const payload = r.slice(r.varint())
    const message: { -readonly [K in keyof Message]: Message[K] } = {
      topic,
      payload,
      qos: qos as QoS,
      retain: (flags & RETAIN) !== 0,
      properties: {},
      publishedAt: r.f64(),
    }
    if ((flags & EXPIRES) !== 0) message.expiresAt = r.f64()
    if ((flags & PUBLISHER) !== 0) message.publisherId = r.string()
    if ((flags & PROPERTIES) !== 0) message.properties = readProperties(r)
    const route = (flags & ROUTING) === 0 ? undefined : readRouting(r)
    seq += unzigzag(r.varint())
    seqs.push(seq)
    if (route !== undefined) {
      routing ??= new Array<ForwardRouting | undefined>(messages.length).fill(undefined)
      routing.push(route)
    } else routing?.push(undefined)
    messages.push(message)
  }
  return { arrivals, messages, seqs, routing }
}

function readRouting(r: Reader): ForwardRouting {
  const flags = r.u8()
  const route: { -readonly [K in keyof ForwardRouting]: ForwardRouting[K] } = {}
  if ((flags & OTHER_NODES) !== 0) route.otherNodes = r.strings()
  if ((flags & RELAY_FOR) !== 0) {
    route.relayFor = r.string()
    const echoed = r.varint()
    if (echoed > 0) route.arrivals = echoed - 1
    const carried = r.varint()
    if (carried > 0) route.carried = carriedDelivery(carried)
    const origin = r.varint()
    if (origin > 0) route.origin = { node: r.string(), seq: origin - 1 }
  }
  if ((flags & RESEND) !== 0) {
    const refusedBy = r.strings()
    route.resend = { refusedBy, applied: r.u8() === 1 }
  }
  return route
}

function readProperties(r: Reader): MessageProperties {
  const flags = r.u8()
  const p: { -readonly [K in keyof MessageProperties]: MessageProperties[K] } = {}
  if ((flags & PFI) !== 0) p.payloadFormatIndicator = (flags & PFI_SET) !== 0
  if ((flags & CONTENT_TYPE) !== 0) p.contentType = r.string()
  if ((flags & RESPONSE_TOPIC) !== 0) p.responseTopic = r.string()
  if ((flags & CORRELATION) !== 0) p.correlationData = r.slice(r.varint())
  if ((flags & USER_PROPERTIES) !== 0) {
    const count = r.varint()
    const users: UserProperty[] = []
    for (let i = 0; i < count; i++) users.push([r.string(), r.string()] as const)
    p.userProperties = users
  }
  return p
}
