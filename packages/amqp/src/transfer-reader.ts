/** [AMQP 2.7.5] The TRANSFER performative's descriptor. */
const TRANSFER = 0x14
/** [AMQP 2.3.1] An 8-byte frame header (doff 2) of an AMQP frame (type 0). */
const DOFF = 2
const TYPE_AMQP = 0

/** The TRANSFER fields rhea's session reads, as plain values (absent or null fields undefined). */
export interface TransferPerformative {
  readonly handle: number
  readonly delivery_id?: number
  readonly delivery_tag?: Buffer
  readonly message_format?: number
  readonly settled?: boolean
  readonly more?: boolean
  readonly rcv_settle_mode?: number
  readonly state?: undefined
  readonly resume?: boolean
  readonly aborted?: boolean
  readonly batchable?: boolean
}

export interface TransferFrame {
  readonly channel: number
  readonly performative: TransferPerformative
  readonly payload: Buffer | undefined
}

/** Signals a field this reader does not take: the frame goes to rhea's decoder instead. */
const OTHER = -1

/**
 * The TRANSFER frame at `offset` (of `size` bytes) as rhea's frame decoder would hand it to the
 * session, read without its generic codec: the plain fields of a transfer (handle, delivery id and
 * tag, message format, settled, more, rcv-settle-mode, resume, batchable), no delivery state and
 * not aborted. Undefined for any other frame or form (extended header, a state, an aborted
 * transfer, an unexpected type code, fields that do not end where the list says): rhea then
 * decodes it and reports what is wrong.
 */
export function readTransferFrame(buffer: Buffer, offset: number, size: number): TransferFrame | undefined {
  const end = offset + size
  if (size < 12 || buffer[offset + 4] !== DOFF || buffer[offset + 5] !== TYPE_AMQP) return undefined
  let p = offset + 8
  if (buffer[p] !== 0x00 || buffer[p + 1] !== 0x53 || buffer[p + 2] !== TRANSFER) return undefined
  p += 3
  let count: number
  let listEnd: number
  const code = buffer[p]
  if (code === 0xc0 && p + 3 <= end) {
    listEnd = p + 2 + (buffer[p + 1] as number)
    count = buffer[p + 2] as number
    p += 3
  } else if (code === 0xd0 && p + 9 <= end) {
    listEnd = p + 5 + buffer.readUInt32BE(p + 1)
    count = buffer.readUInt32BE(p + 5)
    p += 9
  } else return undefined
  if (count < 1 || count > 11 || listEnd > end) return undefined
  const fields: (number | boolean | Buffer | undefined)[] = []
  for (let i = 0; i < count; i++) {
    if (p >= listEnd) return undefined
    const type = buffer[p++] as number
    let value: number | boolean | Buffer | undefined
    if (type === 0x40) value = undefined
    else if (i <= 3 && i !== 2) {
      // handle, delivery-id, message-format: uint
      if (type === 0x43) value = 0
      else if (type === 0x52 && p + 1 <= listEnd) value = buffer[p++] as number
      else if (type === 0x70 && p + 4 <= listEnd) {
        value = buffer.readUInt32BE(p)
        p += 4
      } else return undefined
    } else if (i === 2) {
      // delivery-tag: binary
      let length = OTHER
      if (type === 0xa0 && p + 1 <= listEnd) length = buffer[p++] as number
      else if (type === 0xb0 && p + 4 <= listEnd) {
        length = buffer.readUInt32BE(p)
        p += 4
      }
      if (length === OTHER || p + length > listEnd) return undefined
      value = buffer.subarray(p, p + length)
      p += length
    } else if (i === 6) {
      // rcv-settle-mode: ubyte
      if (type !== 0x50 || p + 1 > listEnd) return undefined
      value = buffer[p++] as number
    } else if (i === 7) {
      // state: only its absence here
      return undefined
    } else if (type === 0x41) value = true
    else if (type === 0x42) value = false
    else if (type === 0x56 && p + 1 <= listEnd) value = buffer[p++] !== 0
    else return undefined
    fields.push(value)
  }
  if (p !== listEnd) return undefined
  const handle = fields[0]
  if (typeof handle !== 'number' || fields[9] === true) return undefined
  const performative: TransferPerformative = {
    handle,
    delivery_id: fields[1] as number | undefined,
    delivery_tag: fields[2] as Buffer | undefined,
    message_format: fields[3] as number | undefined,
    settled: fields[4] as boolean | undefined,
    more: fields[5] as boolean | undefined,
    rcv_settle_mode: fields[6] as number | undefined,
    resume: fields[8] as boolean | undefined,
    aborted: fields[9] as boolean | undefined,
    batchable: fields[10] as boolean | undefined,
  }
  return { channel: buffer.readUInt16BE(offset + 6), performative, payload: listEnd < end ? buffer.subarray(listEnd, end) : undefined }
}
