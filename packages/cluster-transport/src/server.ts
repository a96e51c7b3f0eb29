import http2 from 'node:http2'
import type { AddressInfo, Socket } from 'node:net'
import { connectNodeAdapter } from '@connectrpc/connect-node'
import type { Logger } from '@fluxmq/core'
import { describeCause, TransportError, TransportErrorCode } from './errors.js'
import { forwardReceiver } from './forward-service.js'
import { FORWARD_PATH } from './forward-wire.js'
import { PayloadService } from './gen/fluxmq/cluster/v1/payload_pb.js'
import { SessionService } from './gen/fluxmq/cluster/v1/session_pb.js'
import type { InboundHandlers } from './handlers.js'
import { payloadService } from './payload-service.js'
import { takeoverService } from './session-service.js'
import { silentLogger } from './silent-logger.js'
import { readTls, type TlsFiles } from './tls.js'

export interface TransportServerOptions {
  readonly nodeId: string
  /** Address to bind; all interfaces when omitted. */
  readonly host?: string
  /** 0 picks a free port (tests). */
  readonly port: number
  /** Mutual TLS: only peers whose certificate the CA signed get in. Omitted: h2c (cleartext HTTP/2). */
  readonly tls?: TlsFiles
  readonly handlers: InboundHandlers
  readonly logger?: Logger
  /** Batches one sender may have unacknowledged per stream (default 32). */
  readonly credit?: number
  /** Largest message read or written, in bytes (default 64 MiB). */
  readonly maxMessageBytes?: number
  /** Payload bytes per chunk of a fetched payload or of a takeover's offline queue (default 1 MiB). */
  readonly chunkBytes?: number
  /** How long a surrendered session is kept for a repeated takeover request (default 30 s). */
  readonly takeoverMemoryMs?: number
}

/** One node's data-plane server: ForwardService, SessionService and PayloadService over HTTP/2. */
export class TransportServer {
  private readonly server: http2.Http2Server | http2.Http2SecureServer
  private readonly sessions = new Set<http2.ServerHttp2Session>()
  private readonly logger: Logger

  constructor(private readonly options: TransportServerOptions) {
    this.logger = (options.logger ?? silentLogger).child({ component: 'cluster-transport', node: options.nodeId })
    const chunkBytes = options.chunkBytes ?? 1024 * 1024
    const maxMessageBytes = options.maxMessageBytes ?? 64 * 1024 * 1024
    const forward = forwardReceiver({ nodeId: options.nodeId, handlers: options.handlers, logger: this.logger, credit: options.credit ?? 32, maxMessageBytes })
    const connect = connectNodeAdapter({
      readMaxBytes: maxMessageBytes,
      writeMaxBytes: maxMessageBytes,
      routes: (router) => {
        router.service(SessionService, takeoverService({ handlers: options.handlers, chunkBytes, memoryMs: options.takeoverMemoryMs ?? 30_000, logger: this.logger }))
        router.service(PayloadService, payloadService({ handlers: options.handlers, chunkBytes }))
      },
    })
    // The forward stream is served as plain gRPC frames (forward-service.ts); every other call goes through Connect.
    const handler = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse): void => {
      if (req.url === FORWARD_PATH) forward(req, res)
      else connect(req, res)
    }
    if (options.tls === undefined) {
      this.server = http2.createServer(handler)
    } else {
      const { cert, key, ca } = readTls(options.tls)
      this.server = http2.createSecureServer({ cert, key, ca, requestCert: true, rejectUnauthorized: true, allowHTTP1: false }, handler)
      this.server.on('tlsClientError', (error, socket) => {
        this.logger.warn({ remote: `${socket.remoteAddress}:${socket.remotePort}`, err: describeCause(error) }, 'transport peer refused at TLS')
      })
    }
    // Acknowledgements are small writes the sender waits on: Nagle's algorithm would hold them
    // back for the peer's delayed ACK.
    this.server.on(options.tls === undefined ? 'connection' : 'secureConnection', (socket: Socket) => socket.setNoDelay(true))
    this.server.on('session', (session) => {
      this.sessions.add(session)
      session.once('close', () => this.sessions.delete(session))
    })
  }

  /** Starts listening; resolves with the bound address. */
  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => {
        reject(
          new TransportError(TransportErrorCode.Listen, `cannot listen on ${this.options.host ?? '*'}:${this.options.port}: ${error.message}`, {
            cause: error,
          }),
        )
      }
      this.server.once('error', onError)
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', onError)
        const address = this.server.address() as AddressInfo
        this.logger.info({ addr: `${address.address}:${address.port}`, tls: this.options.tls !== undefined }, 'cluster transport listening')
        resolve(address)
      })
    })
  }

  /** Stops accepting and drops every open session: senders see their streams fail and resend elsewhere or later. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server.listening) {
        resolve()
        return
      }
      this.server.close(() => resolve())
      for (const session of this.sessions) session.destroy()
    })
  }
}
