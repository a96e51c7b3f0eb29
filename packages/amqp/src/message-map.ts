import type { Delivery, Message, MessageProperties, QoS, UserProperty } from '@fluxmq/core'
import rhea from 'rhea'
import type { Message as AmqpMessage } from 'rhea'

/**
 * AMQP properties without an MQTT 5 counterpart travel as user properties under these names, so
 * an AMQP receiver gets them back and an MQTT subscriber can read them.
 */
export const SUBJECT_PROPERTY = 'amqp-subject'
export const MESSAGE_ID_PROPERTY = 'amqp-message-id'

/** AMQP 1.0 body section type codes (§3.2.6-§3.2.8). */
const DATA = 0x75
const SEQUENCE = 0x76
const JSON_CONTENT_TYPE = 'application/json'
const utf8 = new TextDecoder('utf-8', { fatal: true })

interface BodySection {
  readonly typecode: number
  readonly content: unknown
  readonly multiple?: boolean
}

function isSection(body: unknown): body is BodySection {
  return typeof body === 'object' && body !== null && typeof (body as BodySection).typecode === 'number' && 'content' in body
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? 'null')
}

/** The payload and what it implies for the properties; see the README's body table. */
function payloadOf(body: unknown): { payload: Buffer; text: boolean; json: boolean } {
  if (isSection(body)) {
    if (body.typecode === DATA) {
      const content = body.multiple === true ? Buffer.concat(body.content as Buffer[]) : (body.content as Buffer)
      return { payload: content, text: false, json: false }
    }
    if (body.typecode === SEQUENCE) return { payload: json(body.content), text: true, json: true }
  }
  if (body === undefined || body === null) return { payload: Buffer.alloc(0), text: false, json: false }
  if (typeof body === 'string') return { payload: Buffer.from(body, 'utf8'), text: true, json: false }
  if (Buffer.isBuffer(body)) return { payload: body, text: false, json: false }
  return { payload: json(body), text: true, json: true }
}

function text(value: unknown): string {
  if (typeof value === 'string') return value
  if (value === null || value === undefined) return ''
  if (Buffer.isBuffer(value)) return value.toString('utf8')
  if (value instanceof Date) return value.toISOString()
  return String(value)
}

function correlationData(value: unknown): Buffer | undefined {
  if (value === undefined || value === null) return undefined
  if (Buffer.isBuffer(value)) return value
  return Buffer.from(text(value), 'utf8')
}

function expiryOf(msg: AmqpMessage, now: number): number | undefined {
  const ttl = typeof msg.ttl === 'number' && msg.ttl > 0 ? now + msg.ttl : undefined
  const absolute = msg.absolute_expiry_time as unknown
  const at = absolute instanceof Date ? absolute.getTime() : typeof absolute === 'number' && absolute > 0 ? absolute : undefined
  if (ttl === undefined) return at
  return at === undefined ? ttl : Math.min(ttl, at)
}

/** A transfer from an AMQP sender as the core's message to `topic`. */
export function toCoreMessage(msg: AmqpMessage, topic: string, qos: QoS, publisherId: string, now: number): Message {
  const body = payloadOf(msg.body)
  const properties: MessageProperties = {}
  const contentType = msg.content_type as unknown
  if (typeof contentType === 'string') properties.contentType = contentType
  else if (body.json) properties.contentType = JSON_CONTENT_TYPE
  if (body.text) properties.payloadFormatIndicator = true
  if (typeof msg.reply_to === 'string') properties.responseTopic = msg.reply_to
  const correlation = correlationData(msg.correlation_id)
  if (correlation !== undefined) properties.correlationData = correlation
  const user: UserProperty[] = []
  if (typeof msg.subject === 'string') user.push([SUBJECT_PROPERTY, msg.subject])
  if (msg.message_id !== undefined && msg.message_id !== null) user.push([MESSAGE_ID_PROPERTY, text(msg.message_id)])
  const application = msg.application_properties as Record<string, unknown> | undefined
  if (application !== undefined && application !== null) {
    for (const name of Object.keys(application)) user.push([name, text(application[name])])
  }
  if (user.length > 0) properties.userProperties = user
  const expiresAt = expiryOf(msg, now)
  return {
    topic,
    payload: body.payload,
    qos,
    retain: false,
    properties,
    ...(expiresAt === undefined ? {} : { expiresAt }),
    publishedAt: now,
    publisherId,
  }
}

/**
 * Correlation data goes out as a string when it is UTF-8 text (what AMQP clients mostly send), else
 * as binary (explicitly typed: rhea would encode a bare Buffer id as a uuid).
 */
function correlationId(data: Buffer): unknown {
  try {
    return utf8.decode(data)
  } catch {
    return rhea.types.wrap_binary(data)
  }
}

/** A delivery from the core as the AMQP message a receiver gets: the payload in one data section. */
export function toAmqpMessage(delivery: Delivery, now: number): AmqpMessage {
  const message = delivery.message
  const props = message.properties
  const out: AmqpMessage = { body: rhea.message.data_section(message.payload) } as AmqpMessage
  if (delivery.qos > 0) out.durable = true
  if (props.contentType !== undefined) out.content_type = props.contentType
  if (props.responseTopic !== undefined) out.reply_to = props.responseTopic
  if (props.correlationData !== undefined) out.correlation_id = correlationId(props.correlationData) as string
  if (message.expiresAt !== undefined) {
    out.ttl = Math.max(1, message.expiresAt - now)
    out.absolute_expiry_time = new Date(message.expiresAt)
  }
  const user = props.userProperties
  if (user !== undefined && user.length > 0) {
    const application: Record<string, string> = {}
    let any = false
    for (const [name, value] of user) {
      if (name === SUBJECT_PROPERTY) out.subject = value
      else if (name === MESSAGE_ID_PROPERTY) out.message_id = value
      else {
        application[name] = value
        any = true
      }
    }
    if (any) out.application_properties = application
  }
  return out
}
