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

const head = new AmqpWriter(64)

/**
 * A single-frame TRANSFER of an encoded message, as rhea writes it for `sender.send` (handle,
 * delivery-id, delivery-tag, message-format 0, settled, more false), without rhea's per-frame
 * composite objects: the frame header and performative, then the message. Returned as one buffer
 * for small messages, else the header and the message (shared by every delivery of it) apart;
 * undefined when it does not fit in one frame of `maxFrameSize` (rhea then splits it).
 */
export function transferFrame(fields: TransferFields, message: Buffer, maxFrameSize: number): Buffer | [Buffer, Buffer] | undefined {
  const w = head
  w.reset()
  w.uint32(0) // the frame size, filled in below
  w.byte(DOFF)
  w.byte(TYPE_AMQP)
  w.byte(fields.channel >>> 8)
  w.byte(fields.channel & 0xff)
  w.descriptor(TRANSFER)
  const at = w.open(Code.List32)
  w.uint(fields.handle)
  w.uint(fields.deliveryId)
  w.binaryText(String(fields.tag))
  w.byte(Code.Uint0)
  w.byte(fields.settled ? Code.True : Code.False)
  w.byte(Code.False)
  w.close(at, 6)
  const headSize = w.pos
  const size = headSize + message.length
  if (size > maxFrameSize) return undefined
  if (message.length > COPY_LIMIT) {
    const out = w.take()
    out.writeUInt32BE(size, 0)
    return [out, message]
  }
  const out = Buffer.allocUnsafe(size)
  w.copyTo(out)
  out.writeUInt32BE(size, 0)
  message.copy(out, headSize)
  return out
}

