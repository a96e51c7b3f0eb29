import { encodingProblem } from './encoding-guard.js'

/** rhea's frame reader of a connection (its AMQP or its SASL layer), absent from its typings. */
export interface TransportInternals {
  readonly header_received: unknown
  readonly read_complete: boolean
  read(buffer: Buffer): number
}

/** [AMQP 2.2] A protocol header's size. */
const PROTOCOL_HEADER_SIZE = 8
/** [AMQP 2.3.1] A frame is at least its 8-byte header. */
const MIN_FRAME_SIZE = 8

/**
 * rhea's input error for bytes its decoder must not read: rhea dispatches it as an `error` event,
 * and the connection closes with amqp:decode-error.
 */
export class UndecodableFrame extends Error {
  override readonly name = 'UndecodableFrame'
}

/**
 * Takes over `transport`'s frame reading: the protocol header goes to rhea alone, then each
 * complete frame one at a time. `direct` may take a frame itself (true); every frame it leaves
 * reaches rhea only after `encodingProblem` passed its performative, so rhea's decoder never reads
 * a frame that would run it out of memory. A frame that fails throws `UndecodableFrame` with the
 * frames before it already read, as rhea reports its own decoding errors.
 */
export function readFramesChecked(transport: TransportInternals, direct?: (buffer: Buffer, offset: number, size: number) => boolean): void {
  const rheaRead = transport.read
  transport.read = function (buffer) {
    let offset = 0
    if (!this.header_received) {
      if (buffer.length < PROTOCOL_HEADER_SIZE) return 0
      offset = rheaRead.call(this, buffer.subarray(0, PROTOCOL_HEADER_SIZE))
    }
    while (offset + MIN_FRAME_SIZE <= buffer.length && !this.read_complete) {
      const size = buffer.readUInt32BE(offset)
      // A size below a header (the frame guard closes such connections first): rhea's to report.
      if (size < MIN_FRAME_SIZE) return offset + rheaRead.call(this, buffer.subarray(offset))
      if (offset + size > buffer.length) break
      if (direct === undefined || !direct(buffer, offset, size)) {
        // [AMQP 2.3.1] The body starts at 4 * data offset; rhea reports a data offset out of bounds itself.
        const body = offset + 4 * (buffer[offset + 4] as number)
        if (body >= offset + MIN_FRAME_SIZE && body <= offset + size) {
          const problem = encodingProblem(buffer, body, offset + size, true)
          if (problem !== undefined) throw new UndecodableFrame(`undecodable frame: ${problem}`)
        }
        rheaRead.call(this, buffer.subarray(offset, offset + size))
      }
      offset += size
    }
    return offset
  }
}
