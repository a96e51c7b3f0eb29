import { isUtf8 } from 'node:buffer'
import type { IPublishPacket } from 'mqtt-packet'
import { topicNameUnitError } from '@fluxmq/topic'
import { malformed, protocolViolation, topicGrammarError, topicNameInvalid } from './errors.js'
import { PropertyId, readProperties, type PropertyContext } from './properties.js'
import type { ProtocolVersion } from './protocol.js'

const PUBLISH_PROPERTIES: ReadonlySet<number> = new Set([
  PropertyId.PayloadFormatIndicator,
  PropertyId.MessageExpiryInterval,
  PropertyId.ContentType,
  PropertyId.ResponseTopic,
  PropertyId.CorrelationData,
  PropertyId.SubscriptionIdentifier,
  PropertyId.TopicAlias,
  PropertyId.UserProperty,
])
const OWNED: PropertyContext = { packet: 'PUBLISH', allowed: PUBLISH_PROPERTIES, owned: true }
const BORROWED: PropertyContext = { packet: 'PUBLISH', allowed: PUBLISH_PROPERTIES, owned: false }

/**
 * Hand-written PUBLISH parse: the hottest path of the broker. Produces the same object as
 * mqtt-packet for every packet mqtt-packet accepts, and rejects what the spec forbids and
 * mqtt-packet lets through (invalid UTF-8, wildcards, packet id 0, misplaced properties).
 *
 * `buf[start, end)` is the variable header and payload. With `owned` false the bytes belong to
 * the caller's chunk, and a small payload is copied: it must not pin a whole socket read.
 */
export function parsePublish(buf: Buffer, start: number, end: number, flags: number, version: ProtocolVersion, owned: boolean, memo?: TopicMemo): IPublishPacket {
  const qos = ((flags >> 1) & 3) as 0 | 1 | 2
  if (start + 2 > end) throw malformed('PUBLISH topic length is missing')
  const topicStart = start + 2
  const topicEnd = topicStart + buf.readUInt16BE(start)
  if (topicEnd > end) throw malformed('PUBLISH topic runs past the packet')

  const topic = memo !== undefined && memo.holds(buf, topicStart, topicEnd) ? memo.topic : readTopic(buf, topicStart, topicEnd, memo)

  let pos = topicEnd
  let messageId = 0
  if (qos > 0) {
    if (pos + 2 > end) throw malformed('PUBLISH packet identifier is missing')
    messageId = buf.readUInt16BE(pos)
    // [MQTT-2.2.1-3] A PUBLISH with QoS > 0 carries a non-zero Packet Identifier.
    if (messageId === 0) throw protocolViolation('PUBLISH packet identifier is 0', 'MQTT-2.2.1-3')
    pos += 2
  }

  let properties: Record<string, unknown> | undefined
  if (version === 5) {
    const read: Record<string, unknown> = {}
    pos = readProperties(buf, pos, end, owned ? OWNED : BORROWED, read)
    // [MQTT-3.3.4-6] A PUBLISH from a Client MUST NOT contain a Subscription Identifier.
    if (read['subscriptionIdentifier'] !== undefined) throw protocolViolation('PUBLISH from a client carries a Subscription Identifier', 'MQTT-3.3.4-6')
    for (const _ in read) {
      properties = read
      break
    }
  }

  if (topicEnd === topicStart) {
    // [MQTT-4.7.3-1] Topic names are at least one character long; MQTT 5 §3.3.2.1 allows an
    // empty one only when a Topic Alias stands for it.
    if (version !== 5) throw topicNameInvalid('PUBLISH topic is empty', 'MQTT-4.7.3-1')
    if (properties?.['topicAlias'] === undefined) throw protocolViolation('PUBLISH topic is empty and there is no Topic Alias')
  }

  // A view is free but keeps the caller's whole ArrayBuffer alive; it is taken when the payload
  // is at least half of that memory anyway, otherwise the (small) payload is copied.
  const payload = owned || (end - pos) * 2 >= buf.buffer.byteLength ? buf.subarray(pos, end) : copyOf(buf, pos, end)
  const packet = { cmd: 'publish', retain: (flags & 1) !== 0, qos, dup: (flags & 8) !== 0, length: end - start, topic, payload } as IPublishPacket
  if (qos > 0) packet.messageId = messageId
  if (properties !== undefined) packet.properties = properties
  return packet
}

/** A small payload out of a socket chunk, copied without an intermediate view. */
function copyOf(buf: Buffer, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(end - start)
  buf.copy(out, 0, start, end)
  return out
}

/** Checks and decodes a topic name; remembers it in `memo` when given. */
function readTopic(buf: Buffer, topicStart: number, topicEnd: number, memo: TopicMemo | undefined): string {
  // One pass for the three topic checks; '+', '#' and NUL never occur inside a multi-byte sequence.
  let ascii = true
  for (let i = topicStart; i < topicEnd; i++) {
    const byte = buf[i] as number
    // No wildcards [MQTT-3.3.2-2], no U+0000: the topic grammar's rule, applied to the bytes.
    const invalid = topicNameUnitError(byte)
    if (invalid !== undefined) throw topicGrammarError('PUBLISH topic', invalid)
    if (byte >= 0x80) ascii = false
  }
  if (!ascii && !isUtf8(buf.subarray(topicStart, topicEnd))) throw malformed('PUBLISH topic is not well-formed UTF-8', 'MQTT-1.5.4-1')
  const topic = buf.toString(ascii ? 'latin1' : 'utf8', topicStart, topicEnd)
  memo?.remember(buf, topicStart, topicEnd, topic)
  return topic
}

/** Topic names longer than this are not remembered (a memo costs its bytes per connection). */
const MEMO_MAX_BYTES = 256

/**
 * The last topic name one connection published to, as bytes and string. Publishers repeat their
 * topics, so most PUBLISHes compare a few bytes instead of checking and decoding them again, and
 * the broker gets the same string each time (whose hash V8 has already computed, for the
 * router's Map lookups). Only names that passed the checks are remembered.
 */
export class TopicMemo {
  private bytes: Buffer = Buffer.allocUnsafe(0)
  private length = -1
  topic = ''

  holds(buf: Buffer, start: number, end: number): boolean {
    const length = end - start
    if (length !== this.length) return false
    const bytes = this.bytes
    for (let i = 0; i < length; i++) if (bytes[i] !== buf[start + i]) return false
    return true
  }

  remember(buf: Buffer, start: number, end: number, topic: string): void {
    const length = end - start
    if (length > MEMO_MAX_BYTES) return
    if (length > this.bytes.length) this.bytes = Buffer.alloc(Math.max(length, 32))
    buf.copy(this.bytes, 0, start, end)
    this.length = length
    this.topic = topic
  }
}
