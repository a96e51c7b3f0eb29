import type { Message } from '@fluxmq/core'
import { ByteWriter, MalformedMessageError, STORED_MESSAGE_VERSION, decodeMessage, encodeMessage } from './stored-message.js'

/**
 * An offline segment (schema v4) is one row holding the messages one client's queue got in one
 * group commit, between two operations on that queue:
 *
 *   u8 format (= STORED_MESSAGE_VERSION) | entries: u32 seq - first_seq, u32 n, n bytes of message
 *
 * Entries are in seq order. A segment covers [first_seq, end_seq] but need not hold every seq in
 * it: a large message appended in between lives in the `offline` table under its own seq.
 */
export const SEGMENT_FORMAT = STORED_MESSAGE_VERSION

/**
 * Messages whose payload is larger than this are not copied into segments: they keep one shared
 * `messages` row referenced from `offline`, so a large publish fanned out to many offline
 * sessions is written once. 4 KiB is one SQLite page: below it a copy per queue costs less than
 * the shared row's two extra B-tree writes (the row and its reference), above it the copies
 * become whole pages of WAL per queue.
 */
export const INLINE_PAYLOAD_LIMIT = 4096

/**
 * A segment is closed once its encoded entries reach this many bytes and the queue's next append
 * opens another, even in the same batch: a take reads whole segment rows, so this bounds what a
 * take of a few messages from a queue filled by a burst reads and skips.
 */
export const SEGMENT_LIMIT = 64 * 1024

/** A new buffer's size; it doubles as needed (a 64-message window of 64-byte payloads fits in 8 KiB). */
const INITIAL_CAPACITY = 2048
/** Spare buffers kept: enough for one batch appending to this many queues. */
const MAX_SPARE = 256
/** A buffer grown past this (a burst of appends to one queue) is left to the GC instead of being kept. */
const MAX_SPARE_CAPACITY = 2 * SEGMENT_LIMIT

/**
 * Buffers of segments whose rows are inserted, for the next segments: every batch needs one per
 * queue it appends to, and reusing them saves the allocation and the copies of growing a fresh
 * one each time (and the garbage).
 */
export class SegmentBuffers {
  private readonly spare: ByteWriter[] = []

  take(): ByteWriter {
    const out = this.spare.pop() ?? new ByteWriter(INITIAL_CAPACITY)
    out.length = 0
    return out
  }

  give(out: ByteWriter): void {
    if (this.spare.length < MAX_SPARE && out.bytes.length <= MAX_SPARE_CAPACITY) this.spare.push(out)
  }
}

/** Collects the appends of one segment, encoded as they come. */
export class SegmentWriter {
  readonly firstSeq: number
  endSeq: number
  private readonly out: ByteWriter

  constructor(
    firstSeq: number,
    private readonly buffers: SegmentBuffers,
  ) {
    this.firstSeq = firstSeq
    this.endSeq = firstSeq
    this.out = buffers.take()
    this.out.u8(SEGMENT_FORMAT)
  }

  /** Seqs must grow from one append to the next. */
  append(seq: number, message: Message): void {
    const out = this.out
    out.u32(seq - this.firstSeq)
    const lengthAt = out.length
    out.u32(0)
    encodeMessage(out, message)
    out.bytes.writeUInt32LE(out.length - lengthAt - 4, lengthAt)
    this.endSeq = seq
  }

  /** Bytes encoded so far. */
  get size(): number {
    return this.out.length
  }

  /** The row's `data`: a view of the writer's buffer, valid until the next append or release. */
  get data(): Buffer {
    return this.out.bytes.subarray(0, this.out.length)
  }

  /** Hands the buffer back once the row is inserted (SQLite has copied it); the writer is done. */
  release(): void {
    this.buffers.give(this.out)
  }
}

/**
 * Decodes the entries of a segment whose seq is in [from, to) into `into[seq - from]`, skipping
 * the others without decoding them. Throws MalformedMessageError for bytes it cannot read.
 */
export function decodeSegment(data: Buffer, firstSeq: number, from: number, to: number, into: (Message | undefined)[]): void {
  if (data.length === 0 || data[0] !== SEGMENT_FORMAT) {
    throw new MalformedMessageError(`unknown segment format ${data[0] ?? '(empty)'}`)
  }
  let at = 1
  while (at < data.length) {
    if (at + 8 > data.length) throw new MalformedMessageError('truncated entry header')
    const seq = firstSeq + data.readUInt32LE(at)
    const end = at + 8 + data.readUInt32LE(at + 4)
    if (end > data.length) throw new MalformedMessageError('entry runs past the segment end')
    if (seq >= to) return
    if (seq >= from) into[seq - from] = decodeMessage(data, at + 8, end)
    at = end
  }
}
