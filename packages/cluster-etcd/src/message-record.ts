import type { Message, MessageProperties, QoS } from '@fluxmq/core'
import { ClusterError, ClusterErrorCode } from './errors.js'

/**
 * The value format of `retained/<topic>` and `wills/<client>`: a 4-byte big-endian header length,
 * the header as JSON, then the payload bytes as they are (no base64 inflation of payloads kept
 * inline). A message too large to keep inline is an index entry: the same header naming the node
 * that holds the payload (`holder`) and its size, with no payload bytes; readers fetch it from the
 * holder over the data plane.
 */

/** A message without its payload: what an index entry carries. */
export type MessageHeader = Omit<Message, 'payload' | 'wire'>

export type StoredMessage =
  | { readonly kind: 'inline'; readonly message: Message }
  | { readonly kind: 'indexed'; readonly header: MessageHeader; readonly holder: string; readonly size: number }

interface HeaderJson {
  readonly topic: string
  readonly qos: QoS
  readonly retain: boolean
  readonly publishedAt: number
  readonly expiresAt?: number
  readonly publisherId?: string
  readonly properties: Omit<MessageProperties, 'correlationData'> & { readonly correlationData?: string }
  /** Set on index entries only. */
  readonly holder?: string
  readonly size?: number
  /** Fields of the record kind (a will's delay, owner); opaque here. */
  readonly extra?: Record<string, unknown>
}

/** Inline when the payload is at most `inlineLimit` bytes, else an index entry naming `holder`. */
export function encodeMessageRecord(message: Message, inlineLimit: number, holder: string, extra?: Record<string, unknown>): Buffer {
  const inline = message.payload.length <= inlineLimit
  const { correlationData, ...properties } = message.properties
  const header: HeaderJson = {
    topic: message.topic,
    qos: message.qos,
    retain: message.retain,
    publishedAt: message.publishedAt,
    ...(message.expiresAt === undefined ? {} : { expiresAt: message.expiresAt }),
    ...(message.publisherId === undefined ? {} : { publisherId: message.publisherId }),
    properties: { ...properties, ...(correlationData === undefined ? {} : { correlationData: correlationData.toString('base64') }) },
    ...(inline ? {} : { holder, size: message.payload.length }),
    ...(extra === undefined ? {} : { extra }),
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8')
  const length = Buffer.alloc(4)
  length.writeUInt32BE(json.length)
  return Buffer.concat(inline ? [length, json, message.payload] : [length, json])
}

export function decodeMessageRecord(value: Buffer, key: string): { readonly stored: StoredMessage; readonly extra: Record<string, unknown> } {
  let header: HeaderJson
  let payload: Buffer
  try {
    const length = value.readUInt32BE(0)
    header = JSON.parse(value.subarray(4, 4 + length).toString('utf8')) as HeaderJson
    payload = value.subarray(4 + length)
  } catch (error) {
    throw new ClusterError(ClusterErrorCode.BadRecord, `${key} is not a message record`, { cause: error })
  }
  if (typeof header.topic !== 'string' || ![0, 1, 2].includes(header.qos) || typeof header.publishedAt !== 'number') {
    throw new ClusterError(ClusterErrorCode.BadRecord, `${key} lacks topic, qos or publishedAt`)
  }
  const { correlationData, ...properties } = header.properties ?? {}
  const messageHeader: MessageHeader = {
    topic: header.topic,
    qos: header.qos,
    retain: header.retain === true,
    publishedAt: header.publishedAt,
    ...(header.expiresAt === undefined ? {} : { expiresAt: header.expiresAt }),
    ...(header.publisherId === undefined ? {} : { publisherId: header.publisherId }),
    properties: { ...properties, ...(correlationData === undefined ? {} : { correlationData: Buffer.from(correlationData, 'base64') }) },
  }
  const extra = header.extra ?? {}
  if (header.holder === undefined) return { stored: { kind: 'inline', message: { ...messageHeader, payload } }, extra }
  if (typeof header.holder !== 'string' || typeof header.size !== 'number') {
    throw new ClusterError(ClusterErrorCode.BadRecord, `${key} is an index entry without holder or size`)
  }
  return { stored: { kind: 'indexed', header: messageHeader, holder: header.holder, size: header.size }, extra }
}
