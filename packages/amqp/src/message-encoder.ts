import type { Message as AmqpMessage } from 'rhea'
import { AmqpWriter, Code } from './amqp-writer.js'

/** [AMQP 3.2] Section descriptors. */
const HEADER = 0x70
const PROPERTIES = 0x73
const APPLICATION_PROPERTIES = 0x74
const DATA = 0x75

/** Field positions in the properties list (§3.2.4) that outgoing messages use. */
const MESSAGE_ID = 0
const SUBJECT = 3
const REPLY_TO = 4
const CORRELATION_ID = 5
const CONTENT_TYPE = 6
const ABSOLUTE_EXPIRY_TIME = 8

/** Scratch space for one message at a time; one that grew for a large message is not kept. */
const SCRATCH = 4096
let scratch = new AmqpWriter(SCRATCH)

/** rhea's binary-typed value (`rhea.types.wrap_binary`), which `toAmqpMessage` uses for a non-UTF-8 correlation id. */
interface TypedBinary {
  readonly value: Buffer
}

type Field = (w: AmqpWriter) => void

/**
 * The bare message as rhea's `message.encode` writes it, for the messages `toAmqpMessage` builds
 * (header, properties, application-properties of strings, one data section): rhea's generic codec
 * wraps every field in a typed object and allocates per value, which was most of the broker's CPU
 * per delivered AMQP message. Any other field of `message` is not written: only `toAmqpMessage`
 * output goes through here, and the tests hold the two byte for byte equal.
 */
export function encodeMessage(message: AmqpMessage): Buffer {
  const w = scratch
  w.reset()
  header(w, message)
  properties(w, message)
  const application = message.application_properties as Record<string, string> | undefined
  if (application !== undefined) {
    w.descriptor(APPLICATION_PROPERTIES)
    const at = w.open(Code.Map32)
    let count = 0
    // rhea iterates the object's keys the same way, so the order matches.
    for (const name in application) {
      w.string(name)
      w.string(application[name] as string)
      count += 2
    }
    w.close(at, count)
  }
  w.descriptor(DATA)
  w.binary((message.body as { content: Buffer }).content)
  const out = w.take()
  if (w.pos > SCRATCH) scratch = new AmqpWriter(SCRATCH)
  return out
}

/** [AMQP 3.2.1] durable, priority (never set), ttl: a list as long as its last field set. */
function header(w: AmqpWriter, message: AmqpMessage): void {
  w.descriptor(HEADER)
  const durable = message.durable === true
  const ttl = message.ttl
  if (ttl === undefined && !durable) {
    w.byte(Code.List0)
    return
  }
  const at = w.open(Code.List32)
  w.byte(durable ? Code.True : Code.Null)
  if (ttl === undefined) {
    w.close(at, 1)
    return
  }
  w.byte(Code.Null)
  w.uint(ttl)
  w.close(at, 3)
}

/** [AMQP 3.2.4] The properties `toAmqpMessage` sets, each at its position; unset ones before the last are null. */
function properties(w: AmqpWriter, message: AmqpMessage): void {
  w.descriptor(PROPERTIES)
  const fields: (Field | undefined)[] = []
  const messageId = message.message_id
  if (messageId !== undefined) fields[MESSAGE_ID] = (x) => x.string(messageId as string)
  const subject = message.subject
  if (subject !== undefined) fields[SUBJECT] = (x) => x.string(subject)
  const replyTo = message.reply_to
  if (replyTo !== undefined) fields[REPLY_TO] = (x) => x.string(replyTo)
  const correlation = message.correlation_id as unknown
  if (correlation !== undefined) {
    fields[CORRELATION_ID] = typeof correlation === 'string' ? (x) => x.string(correlation) : (x) => x.binary((correlation as TypedBinary).value)
  }
  const contentType = message.content_type
  if (contentType !== undefined) fields[CONTENT_TYPE] = (x) => x.symbol(contentType)
  const expiry = message.absolute_expiry_time as unknown
  if (expiry instanceof Date) fields[ABSOLUTE_EXPIRY_TIME] = (x) => x.timestamp(expiry.getTime())
  if (fields.length === 0) {
    w.byte(Code.List0)
    return
  }
  const at = w.open(Code.List32)
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]
    if (field === undefined) w.byte(Code.Null)
    else field(w)
  }
  w.close(at, fields.length)
}
