// gRPC's length-prefixed messages, the framing of Connect's gRPC protocol on an HTTP/2 stream: a
// flag byte (bit 0: compressed), the message length as a big-endian u32, the message. The
// forward stream writes and reads its frames itself (forward-call.ts, forward-service.ts), so a
// batch costs one buffer and one stream write instead of a pass through Connect's async
// iterables; any gRPC client or server still reads them.
import { TransportError, TransportErrorCode } from './errors.js'

export const FRAME_HEADER_BYTES = 5
const COMPRESSED = 0x01

/** A frame whose message the caller writes at `FRAME_HEADER_BYTES`: one allocation per frame. */
export function allocFrame(messageBytes: number): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + messageBytes)
  frame[0] = 0
  frame.writeUInt32BE(messageBytes, 1)
  return frame
}

/** `message` framed. */
export function frame(message: Uint8Array): Buffer {
  const framed = allocFrame(message.length)
  framed.set(message, FRAME_HEADER_BYTES)
  return framed
}

function protocolError(message: string): TransportError {
  return new TransportError(TransportErrorCode.Protocol, message)
}

/** Splits the bytes of one stream into messages as its chunks arrive. */
export class FrameReader {
  /** Chunks holding the start of a frame not complete yet, joined once it is (a 1 MiB batch comes in many chunks). */
  private chunks: Buffer[] = []
  private buffered = 0

  constructor(private readonly maxMessageBytes: number) {}

  /** True when the bytes read so far end inside a frame: a stream ending here was cut short. */
  get partial(): boolean {
    return this.buffered > 0
  }

  /**
   * Calls `onMessage` with each message `chunk` completes, in order, as a view of the bytes read.
   * Throws TransportError (Protocol) on a compressed or oversized frame.
   */
  push(chunk: Buffer, onMessage: (message: Buffer) => void): void {
    this.chunks.push(chunk)
    this.buffered += chunk.length
    if (this.buffered < FRAME_HEADER_BYTES) return
    let head = this.chunks[0] as Buffer
    if (head.length < FRAME_HEADER_BYTES) head = this.join()
    if (this.buffered < FRAME_HEADER_BYTES + this.lengthAt(head, 0)) return
    const bytes = this.join()
    let offset = 0
    while (bytes.length - offset >= FRAME_HEADER_BYTES) {
      const end = offset + FRAME_HEADER_BYTES + this.lengthAt(bytes, offset)
      if (end > bytes.length) break
      onMessage(bytes.subarray(offset + FRAME_HEADER_BYTES, end))
      offset = end
    }
    this.chunks = offset < bytes.length ? [bytes.subarray(offset)] : []
    this.buffered = bytes.length - offset
  }

  /** The checked message length of the frame at `offset`. */
  private lengthAt(bytes: Buffer, offset: number): number {
    if ((bytes[offset] as number) & COMPRESSED) throw protocolError('compressed gRPC messages are not accepted on the forward stream')
    const length = bytes.readUInt32BE(offset + 1)
    if (length > this.maxMessageBytes) throw protocolError(`a ${length}-byte message exceeds the ${this.maxMessageBytes}-byte limit`)
    return length
  }

  private join(): Buffer {
    const joined = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.buffered)
    this.chunks = [joined]
    return joined
  }
}
