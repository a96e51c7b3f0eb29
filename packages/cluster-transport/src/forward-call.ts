// The sending end of one Forward call: a gRPC bidirectional stream opened through Connect's
// HTTP/2 session manager (the connection, its PINGs and reconnects stay Connect's), on which the
// forwarder writes already-encoded frames and whose frames it reads back as they arrive. Connect's
// client would carry each batch and each acknowledgement through a chain of async iterables: at
// a few thousand one-message batches a second that plumbing cost more than the batch itself.
import http2 from 'node:http2'
import { Code, ConnectError } from '@connectrpc/connect'
import type { Http2SessionManager } from '@connectrpc/connect-node'
import { TransportError, TransportErrorCode } from './errors.js'
import { FORWARD_PATH } from './forward-wire.js'
import { FrameReader } from './grpc-frame.js'

export interface ForwardCallEvents {
  /** One response message; throwing ends the call with that error. */
  onMessage(message: Buffer): void
  /** Called once: the call ended, with what ended it (undefined: the peer closed it normally). */
  onEnd(failure: unknown): void
}

/** gRPC's status OK, which Connect's Code leaves out. */
const GRPC_OK = 0

const REQUEST_HEADERS = { 'content-type': 'application/grpc+proto', te: 'trailers' }

/** The trailers' gRPC status as a ConnectError (undefined for OK), keeping the FluxMQ error code. */
function statusError(fields: http2.IncomingHttpHeaders): ConnectError | undefined {
  const status = Number(fields['grpc-status'])
  if (status === GRPC_OK) return undefined
  let message = String(fields['grpc-message'] ?? '')
  try {
    message = decodeURIComponent(message)
  } catch {
    // Not percent-encoded as gRPC asks: shown as it came.
  }
  const code = fields['fluxmq-error-code']
  const metadata = typeof code === 'string' ? { 'fluxmq-error-code': code } : undefined
  return new ConnectError(message, Number.isInteger(status) && status > 0 && status <= 16 ? (status as Code) : Code.Unknown, metadata)
}

export class ForwardCall {
  private stream: http2.ClientHttp2Stream | undefined
  /** Frames written before the stream exists. */
  private early: Buffer[] = []
  private readonly reader: FrameReader
  private ending = false
  private failure: unknown
  private trailers: http2.IncomingHttpHeaders | undefined
  private done = false

  constructor(
    private readonly sessions: Http2SessionManager,
    maxMessageBytes: number,
    private readonly events: ForwardCallEvents,
  ) {
    this.reader = new FrameReader(maxMessageBytes)
    sessions.request('POST', FORWARD_PATH, REQUEST_HEADERS, {}).then(
      (stream) => this.attach(stream),
      (error: unknown) => this.finish(error),
    )
  }

  write(frame: Buffer): void {
    if (this.done || this.ending) return
    if (this.stream === undefined) this.early.push(frame)
    else this.stream.write(frame)
  }

  /** No more requests: the peer ends the call once it answered what it got. */
  end(): void {
    if (this.done || this.ending) return
    this.ending = true
    this.stream?.end()
  }

  /** Drops the call at once (RST_STREAM CANCEL); no event follows. */
  cancel(): void {
    this.done = true
    this.stream?.close(http2.constants.NGHTTP2_CANCEL)
  }

  private attach(stream: http2.ClientHttp2Stream): void {
    this.stream = stream
    if (this.done) {
      stream.close(http2.constants.NGHTTP2_CANCEL)
      return
    }
    stream.on('response', (headers) => {
      const status = headers[':status']
      if (status !== 200) this.fail(new ConnectError(`HTTP ${status} on the forward stream`, Code.Unavailable))
      else if (headers['grpc-status'] !== undefined) this.trailers = headers
    })
    stream.on('data', (chunk: Buffer) => {
      if (this.done || this.failure !== undefined) return
      this.sessions.notifyResponseByteRead(stream)
      try {
        this.reader.push(chunk, (message) => this.events.onMessage(message))
      } catch (error) {
        this.fail(error)
      }
    })
    stream.on('trailers', (trailers) => (this.trailers = trailers))
    // The peer ended its side (with its status): our side has nothing more to say, and 'close' follows.
    stream.on('end', () => stream.close())
    stream.on('error', (error) => this.failure ??= error)
    stream.on('close', () => this.finish(this.failure ?? this.outcome()))
    for (const frame of this.early) stream.write(frame)
    this.early = []
    if (this.ending) stream.end()
  }

  /** How a call that closed without a local failure ended. */
  private outcome(): unknown {
    if (this.trailers === undefined) return new ConnectError('the forward stream closed without a gRPC status', Code.Unavailable)
    const error = statusError(this.trailers)
    if (error !== undefined) return error
    if (this.reader.partial) return new TransportError(TransportErrorCode.Protocol, 'the forward stream ended inside a message')
    return undefined
  }

  private fail(error: unknown): void {
    this.failure ??= error
    this.stream?.close(http2.constants.NGHTTP2_CANCEL)
  }

  private finish(failure: unknown): void {
    if (this.done) return
    this.done = true
    this.events.onEnd(failure)
  }
}
