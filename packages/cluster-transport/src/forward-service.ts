// The receiving end of ForwardService: one stream per sender, batches applied in order through
// the publishBatch handler at most once per idempotency key, acknowledged in order with credit.
// Served as plain gRPC on the HTTP/2 stream (frames read and written here, the other services
// stay on Connect's router): Connect's handler would carry every batch and acknowledgement
// through a chain of async iterables, which cost more than the batch at a few thousand a second.
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2'
import { Code } from '@connectrpc/connect'
import type { Logger } from '@fluxmq/core'
import { fromWireMessage } from './convert.js'
import { DedupTable, type BatchOutcome, type DedupWindow } from './dedup-window.js'
import { describeCause, fluxmqCode, TransportError, TransportErrorCode } from './errors.js'
import { ackFrame, randomStreamId, readRequest, responseFrame, type InboundBatchFields } from './forward-wire.js'
import { FrameReader } from './grpc-frame.js'
import type { InboundBatch, InboundHandlers } from './handlers.js'
import { unpackMessages } from './packed.js'

export interface ForwardReceiverOptions {
  readonly nodeId: string
  readonly handlers: InboundHandlers
  readonly logger: Logger
  /** Batches a sender may have unacknowledged on one stream. */
  readonly credit: number
  /** Largest request message read. */
  readonly maxMessageBytes: number
}

/** Ends the stream with FAILED_PRECONDITION and the Protocol code in the trailers. */
function protocolError(message: string): TransportError {
  return new TransportError(TransportErrorCode.Protocol, message)
}

/** A batch as the handler gets it, from the packed encoding or from protobuf messages. */
function decodeBatch(from: string, batch: InboundBatchFields): InboundBatch {
  if (batch.packed.length > 0) {
    const { arrivals, messages, seqs, routing } = unpackMessages(batch.packed)
    return routing === undefined ? { from, arrivals, messages, seqs } : { from, arrivals, messages, seqs, routing }
  }
  return { from, arrivals: 0, messages: batch.messages.map(fromWireMessage) }
}

interface PendingAck {
  readonly sequence: bigint
  settled: boolean
  rejection: BatchOutcome
}

/** Serves one Forward call on `req`/`res`; returns the handler the HTTP/2 server routes its path to. */
export function forwardReceiver(options: ForwardReceiverOptions): (req: Http2ServerRequest, res: Http2ServerResponse) => void {
  // Twice the credit: a resend on a new stream may overlap the tail of the broken one.
  const dedup = new DedupTable(options.credit * 2)
  // This life of the receiver: a sender that sent batches to an earlier one does not resend them here.
  const incarnation = randomStreamId()
  return (req, res) => {
    const contentType = req.headers['content-type'] ?? ''
    if (req.method !== 'POST' || !/^application\/grpc(\+proto)?(;|$)/.test(contentType)) {
      res.writeHead(415)
      res.end()
      return
    }
    new ForwardStream(options, dedup, incarnation, req, res)
  }
}

class ForwardStream {
  private readonly reader: FrameReader
  private sender = ''
  private window: DedupWindow | undefined
  private log: Logger
  /** Batches read and not yet acknowledged, in sequence order; acknowledgements leave in this order as outcomes settle. */
  private readonly acks: PendingAck[] = []
  private requestsEnded = false
  private ended = false
  private flushScheduled = false

  constructor(
    private readonly options: ForwardReceiverOptions,
    private readonly dedup: DedupTable,
    private readonly incarnation: bigint,
    req: Http2ServerRequest,
    private readonly res: Http2ServerResponse,
  ) {
    this.reader = new FrameReader(options.maxMessageBytes)
    this.log = options.logger
    res.writeHead(200, { 'content-type': 'application/grpc+proto' })
    req.on('data', (chunk: Buffer) => {
      if (this.ended) return
      try {
        this.reader.push(chunk, (message) => this.onRequest(message))
      } catch (error) {
        this.finish(error)
      }
    })
    req.on('end', () => {
      if (this.reader.partial) this.finish(protocolError('the forward stream ended inside a message'))
      this.requestsEnded = true
      this.scheduleFlush()
    })
    // The sender went away (reset, connection lost): outcomes still land in the dedup window for its resend.
    res.on('close', () => (this.ended = true))
  }

  private onRequest(message: Buffer): void {
    if (this.ended) return
    let request
    try {
      request = readRequest(message)
    } catch (error) {
      throw protocolError(`unreadable forward request: ${describeCause(error)}`)
    }
    if (this.window === undefined) {
      if (request.case !== 'open') throw protocolError('a forward stream must start with ForwardOpen')
      const open = request.value
      if (open.receiverNode !== this.options.nodeId) throw protocolError(`this is node ${this.options.nodeId}, not ${open.receiverNode}`)
      this.sender = open.senderNode
      this.window = this.dedup.window(open.senderNode, open.epoch)
      this.log = this.options.logger.child({ peer: open.senderNode })
      this.res.write(responseFrame({ kind: { case: 'opened', value: { credit: this.options.credit, incarnation: this.incarnation } } }))
      return
    }
    if (request.case !== 'batch') throw protocolError('ForwardOpen sent twice')
    const batch = request.value
    const sequence = Number(batch.sequence)
    if (!Number.isSafeInteger(sequence) || sequence < 1) throw protocolError(`invalid sequence ${batch.sequence}`)
    if (this.acks.length >= this.options.credit) throw protocolError(`more than ${this.options.credit} unacknowledged batches`)
    let outcome = this.window.lookup(sequence)
    if (outcome === 'unknown') {
      outcome = Promise.resolve({ code: TransportErrorCode.Protocol, message: `sequence ${sequence} is outside the dedup window` })
    } else if (outcome === 'new') {
      outcome = this.apply(batch, sequence)
      this.window.record(sequence, outcome)
    } else {
      this.log.debug({ sequence }, 'resent batch answered from the dedup window')
    }
    const ack: PendingAck = { sequence: batch.sequence, settled: false, rejection: undefined }
    this.acks.push(ack)
    void outcome.then((rejection) => {
      ack.rejection = rejection
      ack.settled = true
      this.scheduleFlush()
    })
  }

  private apply(batch: InboundBatchFields, sequence: number): Promise<BatchOutcome> {
    let inbound: InboundBatch
    try {
      inbound = decodeBatch(this.sender, batch)
    } catch (error) {
      return Promise.resolve({ code: TransportErrorCode.Protocol, message: describeCause(error) })
    }
    let result
    try {
      result = this.options.handlers.publishBatch(inbound)
    } catch (error) {
      result = Promise.reject(error)
    }
    return Promise.resolve(result).then(
      () => undefined,
      (error: unknown) => {
        this.log.warn({ sequence, err: describeCause(error) }, 'forwarded batch refused')
        return { code: fluxmqCode(error) ?? TransportErrorCode.Rejected, message: describeCause(error) }
      },
    )
  }

  /**
   * Acknowledgements leave in the event loop's check phase, not the moment their batch settles:
   * the MQTT writer flushes what a batch delivered in a setImmediate queued while it was
   * delivered, so the subscriber's packets are written before the acknowledgement (on a shared
   * core the acknowledgement wakes the sender, which could otherwise run before this process
   * writes the delivery), and every batch settled in one turn is acknowledged in one write.
   */
  private scheduleFlush(): void {
    if (this.flushScheduled || this.ended) return
    this.flushScheduled = true
    setImmediate(this.flushAcks)
  }

  /** Writes the acknowledgements whose outcomes settled, oldest first, in one write; ends the call once the sender ended and all are out. */
  private readonly flushAcks = (): void => {
    this.flushScheduled = false
    if (this.ended) return
    let frames: Buffer[] | undefined
    while (this.acks[0]?.settled === true) {
      const { sequence, rejection } = this.acks.shift() as PendingAck
      ;(frames ??= []).push(ackFrame({ sequence, credit: 1, rejection }))
    }
    if (frames !== undefined) this.res.write(Buffer.concat(frames))
    if (this.requestsEnded && this.acks.length === 0) this.finish(undefined)
  }

  /**
   * Ends the call with its gRPC status in the trailers: OK, or the error that broke it (a broken
   * contract ends it at once, even while an earlier batch is still being applied).
   */
  private finish(error: unknown): void {
    if (this.ended) return
    this.ended = true
    const res = this.res
    if (error === undefined) {
      res.addTrailers({ 'grpc-status': '0' })
    } else {
      const protocol = error instanceof TransportError && error.code === TransportErrorCode.Protocol
      // The message without the code prefix a TransportError adds: the code travels on its own.
      const message = protocol ? error.message.slice(TransportErrorCode.Protocol.length + 2) : describeCause(error)
      res.addTrailers({
        'grpc-status': String(protocol ? Code.FailedPrecondition : Code.Internal),
        'grpc-message': encodeURIComponent(message),
        ...(protocol ? { 'fluxmq-error-code': TransportErrorCode.Protocol } : {}),
      })
    }
    res.end()
  }
}
