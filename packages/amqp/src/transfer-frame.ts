import { AmqpWriter, Code } from './amqp-writer.js'

/** [AMQP 2.7.5] The TRANSFER performative's descriptor. */
const TRANSFER = 0x14
/** [AMQP 2.3.1] doff 2 (an 8-byte header), frame type 0 (AMQP). */
const DOFF = 2
const TYPE_AMQP = 0
/** Bodies up to this size are copied behind the frame header: one buffer is cheaper to write than two. */
const COPY_LIMIT = 1024

export interface TransferFields {
  readonly channel: number
  readonly handle: number
  readonly deliveryId: number
  /** rhea's delivery tag: its per-sender counter, written as decimal ASCII. */
  readonly tag: number
  readonly settled: boolean
}

/** Bytes of an unsigned int in its smallest form (uint0, smalluint, uint). */
const uintSize = (value: number): number => (value === 0 ? 1 : value <= 255 ? 2 : 5)

/**
 * A single-frame TRANSFER of an encoded message, as rhea writes it for `sender.send` (handle,
 * delivery-id, delivery-tag, message-format 0, settled, more false), without rhea's per-frame
 * composite objects: the frame header and performative, then the message. Returned as one buffer
 * for small messages, else the header and the message (shared by every delivery of it) apart;
 * undefined when it does not fit in one frame of `maxFrameSize` (rhea then splits it).
 */
export function transferFrame(fields: TransferFields, message: Buffer, maxFrameSize: number): Buffer | [Buffer, Buffer] | undefined {
  const tag = String(fields.tag)
  // frame header 8, descriptor 3, list32 header 9, delivery-tag 2 + digits, format, settled, more
  const headSize = 8 + 3 + 9 + uintSize(fields.handle) + uintSize(fields.deliveryId) + 2 + tag.length + 3
  const size = headSize + message.length
  if (size > maxFrameSize) return undefined
  const apart = message.length > COPY_LIMIT
  const w = new AmqpWriter(apart ? headSize : size)
  w.uint32(size)
  w.byte(DOFF)
  w.byte(TYPE_AMQP)
  w.byte(fields.channel >>> 8)
  w.byte(fields.channel & 0xff)
  w.descriptor(TRANSFER)
  const at = w.open(Code.List32)
  w.uint(fields.handle)
  w.uint(fields.deliveryId)
  w.binaryText(tag)
  w.byte(Code.Uint0)
  w.byte(fields.settled ? Code.True : Code.False)
  w.byte(Code.False)
  w.close(at, 6)
  if (apart) return [w.written(), message]
  w.bytes(message)
  return w.written()
}
