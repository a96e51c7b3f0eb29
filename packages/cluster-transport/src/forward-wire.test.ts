import { create, toBinary } from '@bufbuild/protobuf'
import { describe, expect, it } from 'vitest'
import { ackFrame, batchFrame, readRequest, readResponse, requestFrame } from './forward-wire.js'
import { ForwardRequestSchema, ForwardResponseSchema } from './gen/fluxmq/cluster/v1/forward_pb.js'
import { FRAME_HEADER_BYTES } from './grpc-frame.js'

const unframed = (frame: Buffer): Buffer => {
  expect(frame[0]).toBe(0)
  expect(frame.readUInt32BE(1)).toBe(frame.length - FRAME_HEADER_BYTES)
  return frame.subarray(FRAME_HEADER_BYTES)
}

// Sequences and lengths on both sides of each varint size boundary.
const sequences = [1n, 127n, 128n, 16_383n, 16_384n, 2n ** 35n, BigInt(Number.MAX_SAFE_INTEGER)]
const lengths = [1, 127, 128, 16_384]

describe('forward wire', () => {
  it('writes a batch byte for byte as protobuf-es does, and reads it back', () => {
    for (const sequence of sequences) {
      for (const length of lengths) {
        const packed = Buffer.alloc(length, 7)
        const bytes = unframed(batchFrame(sequence, packed))
        expect(bytes).toEqual(Buffer.from(toBinary(ForwardRequestSchema, create(ForwardRequestSchema, { kind: { case: 'batch', value: { sequence, packed } } }))))
        expect(readRequest(bytes)).toEqual({ case: 'batch', value: { sequence, packed, messages: [] } })
      }
    }
  })

  it('writes an acknowledgement byte for byte as protobuf-es does, with or without a rejection, and reads it back', () => {
    for (const sequence of sequences) {
      for (const credit of [0, 1, 300]) {
        const bytes = unframed(ackFrame({ sequence, credit }))
        expect(bytes).toEqual(Buffer.from(toBinary(ForwardResponseSchema, create(ForwardResponseSchema, { kind: { case: 'ack', value: { sequence, credit } } }))))
        expect(readResponse(bytes)).toEqual({ case: 'ack', value: { sequence, credit } })
      }
    }
    const rejection = { code: 'FLUXMQ_ERR_X', message: 'no' }
    const refused = readResponse(unframed(ackFrame({ sequence: 9n, credit: 1, rejection })))
    expect(refused).toMatchObject({ case: 'ack', value: { sequence: 9n, credit: 1, rejection } })
  })

  it('reads the forms it does not write by hand through the generated schema', () => {
    const open = readRequest(unframed(requestFrame({ kind: { case: 'open', value: { senderNode: 'a', receiverNode: 'b', epoch: 5n } } })))
    expect(open).toMatchObject({ case: 'open', value: { senderNode: 'a', receiverNode: 'b', epoch: 5n } })
    const legacy = toBinary(ForwardRequestSchema, create(ForwardRequestSchema, { kind: { case: 'batch', value: { sequence: 3n, messages: [{ topic: 't' }] } } }))
    expect(readRequest(legacy)).toMatchObject({ case: 'batch', value: { sequence: 3n, messages: [{ topic: 't' }] } })
    expect(() => readRequest(Buffer.from([0x12, 0x05, 0x08]))).toThrow()
  })
})
