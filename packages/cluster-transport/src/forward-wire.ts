// The messages of the forward stream as gRPC frames. The two that flow per batch, a batch and its
// acknowledgement, are written by hand into one buffer and read with protobuf's wire reader: the
// reflective encoding of protobuf-es cost microseconds per batch, which at a few thousand
// one-message batches a second was a large part of a hop. The bytes are exactly what toBinary
// writes (forward-wire.test.ts holds them to it); the rare messages (open, opened, a rejection)
// and any form a hand reader does not expect go through the generated schemas.
import { randomBytes } from 'node:crypto'
import { create, fromBinary, toBinary, type MessageInitShape } from '@bufbuild/protobuf'
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire'
import type { Message as WireMessage } from './gen/fluxmq/cluster/v1/message_pb.js'
import {
  ForwardRequestSchema,
  ForwardResponseSchema,
  ForwardService,
  type ForwardOpen,
  type ForwardOpened,
} from './gen/fluxmq/cluster/v1/forward_pb.js'
import { allocFrame, frame, FRAME_HEADER_BYTES } from './grpc-frame.js'
import { varintSize } from './packed.js'
import type { Rejection } from './dedup-window.js'

/** The HTTP/2 path of ForwardService.Forward, as gRPC names it. */
export const FORWARD_PATH = `/${ForwardService.typeName}/${ForwardService.method.forward.name}`

export interface InboundBatchFields {
  readonly sequence: bigint
  /** The batch in the packed encoding; empty when it came as `messages`. */
  readonly packed: Uint8Array
  readonly messages: readonly WireMessage[]
}

export type ForwardRequestKind = { readonly case: 'open'; readonly value: ForwardOpen } | { readonly case: 'batch'; readonly value: InboundBatchFields } | { readonly case: undefined }

export interface AckFields {
  readonly sequence: bigint
  readonly credit: number
  readonly rejection?: Rejection | undefined
}

export type ForwardResponseKind = { readonly case: 'opened'; readonly value: ForwardOpened } | { readonly case: 'ack'; readonly value: AckFields } | { readonly case: undefined }

/** A random non-zero 63-bit id: a sender's epoch (ForwardOpen), a receiver's incarnation (ForwardOpened). */
export function randomStreamId(): bigint {
  return BigInt.asUintN(63, randomBytes(8).readBigUInt64BE()) || 1n
}

// Tags: field number << 3 | wire type (0 varint, 2 length-delimited).
const TAG_1_VARINT = 0x08
const TAG_2_VARINT = 0x10
const TAG_2_BYTES = 0x12
const TAG_3_BYTES = 0x1a

function writeVarint(buffer: Buffer, offset: number, n: number): number {
  while (n >= 0x80) {
    buffer[offset++] = (n % 0x80) | 0x80
    n = Math.floor(n / 0x80)
  }
  buffer[offset++] = n
  return offset
}

/** `ForwardRequest { batch { sequence, packed } }`, framed. */
export function batchFrame(sequence: bigint, packed: Uint8Array): Buffer {
  const seq = Number(sequence)
  const { out, offset } = sequencedFrame(seq, 1 + varintSize(packed.length) + packed.length)
  out[offset] = TAG_3_BYTES
  out.set(packed, writeVarint(out, offset + 1, packed.length))
  return out
}

/** `ForwardResponse { ack }`, framed; by hand unless it carries a rejection. */
export function ackFrame(ack: AckFields): Buffer {
  if (ack.rejection !== undefined) return responseFrame({ kind: { case: 'ack', value: ack } })
  const { out, offset } = sequencedFrame(Number(ack.sequence), ack.credit === 0 ? 0 : 1 + varintSize(ack.credit))
  if (ack.credit !== 0) {
    out[offset] = TAG_2_VARINT
    writeVarint(out, offset + 1, ack.credit)
  }
  return out
}

/**
 * A frame holding field 2 (the batch of a request, the ack of a response) whose field 1 is
 * `sequence`, with `rest` bytes left after it for the caller to write from `offset`.
 */
function sequencedFrame(sequence: number, rest: number): { out: Buffer; offset: number } {
  const inner = 1 + varintSize(sequence) + rest
  const out = allocFrame(1 + varintSize(inner) + inner)
  let offset = FRAME_HEADER_BYTES
  out[offset++] = TAG_2_BYTES
  offset = writeVarint(out, offset, inner)
  out[offset++] = TAG_1_VARINT
  offset = writeVarint(out, offset, sequence)
  return { out, offset }
}

export function requestFrame(request: MessageInitShape<typeof ForwardRequestSchema>): Buffer {
  return frame(toBinary(ForwardRequestSchema, create(ForwardRequestSchema, request)))
}

export function responseFrame(response: MessageInitShape<typeof ForwardResponseSchema>): Buffer {
  return frame(toBinary(ForwardResponseSchema, create(ForwardResponseSchema, response)))
}

/**
 * The only field of a message that holds exactly one length-delimited field `field`, or undefined
 * for any other shape (left to the generated schema).
 */
function soleField(bytes: Uint8Array, field: number): BinaryReader | undefined {
  const outer = new BinaryReader(bytes)
  if (outer.len === 0) return undefined
  const [number, type] = outer.tag()
  if (number !== field || type !== WireType.LengthDelimited) return undefined
  const inner = outer.bytes()
  return outer.pos === outer.len ? new BinaryReader(inner) : undefined
}

/** A batch of `sequence` and `packed` only, read by hand; undefined for anything else. */
function plainBatch(bytes: Uint8Array): InboundBatchFields | undefined {
  const reader = soleField(bytes, 2)
  if (reader === undefined) return undefined
  let sequence = 0n
  let packed: Uint8Array = new Uint8Array(0)
  while (reader.pos < reader.len) {
    const [number, type] = reader.tag()
    if (number === 1 && type === WireType.Varint) sequence = BigInt(reader.uint64())
    else if (number === 3 && type === WireType.LengthDelimited) packed = reader.bytes()
    else return undefined
  }
  return { sequence, packed, messages: [] }
}

/** An acknowledgement without a rejection, read by hand; undefined for anything else. */
function plainAck(bytes: Uint8Array): AckFields | undefined {
  const reader = soleField(bytes, 2)
  if (reader === undefined) return undefined
  let sequence = 0n
  let credit = 0
  while (reader.pos < reader.len) {
    const [number, type] = reader.tag()
    if (number === 1 && type === WireType.Varint) sequence = BigInt(reader.uint64())
    else if (number === 2 && type === WireType.Varint) credit = reader.uint32()
    else return undefined
  }
  return { sequence, credit }
}

/** Throws what protobuf-es throws for bytes that are no ForwardRequest. */
export function readRequest(bytes: Uint8Array): ForwardRequestKind {
  const batch = plainBatch(bytes)
  if (batch !== undefined) return { case: 'batch', value: batch }
  return fromBinary(ForwardRequestSchema, bytes).kind
}

/** Throws what protobuf-es throws for bytes that are no ForwardResponse. */
export function readResponse(bytes: Uint8Array): ForwardResponseKind {
  const ack = plainAck(bytes)
  if (ack !== undefined) return { case: 'ack', value: ack }
  return fromBinary(ForwardResponseSchema, bytes).kind
}
