import { setTimeout as sleep } from 'node:timers/promises'
import { Code, ConnectError, createClient, type Client } from '@connectrpc/connect'
import { createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node'
import type { Logger, Message } from '@fluxmq/core'
import { CircuitBreaker, type BreakerState, type CircuitBreakerOptions } from './circuit-breaker.js'
import { fromWireMessage, fromWireSessionState } from './convert.js'
import { TransportError, TransportErrorCode } from './errors.js'
import { PeerForwarder, type ForwarderStats, type ForwardLimits } from './forwarder.js'
import { PayloadKind as WirePayloadKind, PayloadService, type PayloadHeader } from './gen/fluxmq/cluster/v1/payload_pb.js'
import { SessionService, type SessionState } from './gen/fluxmq/cluster/v1/session_pb.js'
import type { ForwardRouting, LostSession, PayloadRequest, SurrenderedSession } from './handlers.js'
import { callError, isUnavailable } from './remote-error.js'
import { silentLogger } from './silent-logger.js'
import { readTls, type TlsFiles } from './tls.js'

export interface PeerOptions extends ForwardLimits, CircuitBreakerOptions {
  readonly localNode: string
  readonly peerNode: string
  /** `host:port` the peer's transport server listens on (its advertise address; IPv6 as `[::1]:7948`). */
  readonly address: string
  /** Mutual TLS with this node's certificate; the peer's certificate must be signed by the CA and name `address`'s host. */
  readonly tls?: TlsFiles
  readonly logger?: Logger
  /** HTTP/2 PING interval and timeout that detect a dead connection (defaults 5000 and 5000 ms). */
  readonly pingIntervalMs?: number
  readonly pingTimeoutMs?: number
  /** Largest message read or written, and largest fetched payload, in bytes (default 64 MiB). */
  readonly maxMessageBytes?: number
  /** Deadline of one takeOver or fetchPayload call (default 10 s). */
  readonly callTimeoutMs?: number
  /** Tries of takeOver and fetchPayload when the peer is unreachable or the stream breaks (default 3). */
  readonly callAttempts?: number
  /** Routing sequences at or below it are never forwarded (PeerForwarder.fence; default 0: none). */
  readonly fencedUpTo?: number
}

export interface TakeoverCall {
  readonly clientId: string
  /** This node's new ownership epoch. */
  readonly epoch: number
}

export interface PeerState extends ForwarderStats {
  readonly peer: string
  readonly address: string
  readonly breaker: BreakerState
  readonly consecutiveFailures: number
}

/**
 * This node's side of the data plane towards one other node: one HTTP/2 connection carrying the
 * forward stream, takeover and payload fetches, behind one circuit breaker. The forward stream is
 * opened at once and kept open, so the breaker always follows the peer's health; a call while it
 * is open fails fast with PeerUnavailable.
 */
export class Peer {
  private readonly breaker: CircuitBreaker
  private readonly sessionManager: Http2SessionManager
  private readonly forwarder: PeerForwarder
  private readonly sessions: Client<typeof SessionService>
  private readonly payloads: Client<typeof PayloadService>
  private readonly callTimeoutMs: number
  private readonly callAttempts: number
  /** Also the largest payload fetchPayload accepts, so a peer's header cannot make it allocate more. */
  private readonly maxMessageBytes: bigint

  constructor(private readonly options: PeerOptions) {
    const logger = (options.logger ?? silentLogger).child({ component: 'cluster-transport', node: options.localNode, peer: options.peerNode })
    const baseUrl = `${options.tls === undefined ? 'http' : 'https'}://${options.address}`
    // Batches are small writes the receiver acknowledges: no Nagle delay on them.
    const nodeOptions = { noDelay: true, ...(options.tls === undefined ? {} : readTls(options.tls)) }
    this.sessionManager = new Http2SessionManager(
      baseUrl,
      { pingIntervalMs: options.pingIntervalMs ?? 5000, pingTimeoutMs: options.pingTimeoutMs ?? 5000 },
      nodeOptions,
    )
    const maxMessageBytes = options.maxMessageBytes ?? 64 * 1024 * 1024
    this.maxMessageBytes = BigInt(maxMessageBytes)
    const transport = createGrpcTransport({
      baseUrl,
      sessionManager: this.sessionManager,
      readMaxBytes: maxMessageBytes,
      writeMaxBytes: maxMessageBytes,
    })
    this.breaker = new CircuitBreaker(options)
    this.callTimeoutMs = options.callTimeoutMs ?? 10_000
    this.callAttempts = options.callAttempts ?? 3
    this.sessions = createClient(SessionService, transport)
    this.payloads = createClient(PayloadService, transport)
    this.forwarder = new PeerForwarder({ ...options, sessions: this.sessionManager, maxMessageBytes, breaker: this.breaker, logger })
  }

  /** See PeerForwarder.forward: the acceptance promise, or false under backpressure. */
  forward(message: Message, routing?: ForwardRouting, arrivals = 0, seq = 0): Promise<void> | false {
    return this.forwarder.forward(message, routing, arrivals, seq)
  }

  /** See PeerForwarder.fence. */
  fence(upTo: number): void {
    this.forwarder.fence(upTo)
  }

  /** Resolves once everything forwarded so far was accepted or refused by the peer (see PeerForwarder.drained). */
  drained(): Promise<void> {
    return this.forwarder.drained()
  }

  /** Resolves when `forward` accepts messages again. */
  ready(): Promise<void> {
    return this.forwarder.ready()
  }

  /**
   * Asks the peer, the session's previous owner, for its state; undefined when it holds none, a
   * LostSession when it holds none because it lost its node lease.
   * Throws TransportError: Rejected (e.g. it refused the epoch), PeerUnavailable, Protocol.
   */
  takeOver(call: TakeoverCall): Promise<SurrenderedSession | LostSession | undefined> {
    return this.withRetries(async () => {
      let state: SessionState | undefined
      let lost: LostSession | undefined
      const offline: Message[] = []
      const responses = this.sessions.takeOver(
        { clientId: call.clientId, requesterNode: this.options.localNode, epoch: BigInt(call.epoch) },
        { timeoutMs: this.callTimeoutMs },
      )
      for await (const response of responses) {
        const { kind } = response
        if (kind.case === 'lost' && state === undefined && lost === undefined) lost = { lost: true, routedUpTo: kind.value.routedUpTo }
        else if (kind.case === 'state' && state === undefined && lost === undefined) state = kind.value
        else if (kind.case === 'offline' && state !== undefined && offline.length + kind.value.messages.length <= state.offlineCount) {
          for (const m of kind.value.messages) offline.push(fromWireMessage(m))
        } else throw this.protocolError(`unexpected ${kind.case ?? 'empty'} response in a takeover stream`)
      }
      if (lost !== undefined) return lost
      if (state === undefined) throw this.protocolError('takeover stream without a session state')
      return fromWireSessionState(state, offline)
    })
  }

  /** The whole retained message (`key` = topic) or will (`key` = client id) the peer holds; undefined when it holds none. */
  fetchPayload(request: PayloadRequest): Promise<Message | undefined> {
    return this.withRetries(async () => {
      const kind = request.kind === 'retained' ? WirePayloadKind.RETAINED : WirePayloadKind.WILL
      let header: PayloadHeader | undefined
      let payload: Buffer | undefined
      let received = 0
      for await (const response of this.payloads.fetchPayload({ kind, key: request.key }, { timeoutMs: this.callTimeoutMs })) {
        const { kind: part } = response
        if (part.case === 'header' && header === undefined && part.value.payloadSize <= this.maxMessageBytes) {
          header = part.value
          payload = Buffer.allocUnsafe(Number(header.payloadSize))
        } else if (part.case === 'chunk' && payload !== undefined && received + part.value.length <= payload.length) {
          payload.set(part.value, received)
          received += part.value.length
        } else {
          throw this.protocolError(`unexpected ${part.case ?? 'empty'} response in a payload stream`)
        }
      }
      if (header?.message === undefined || payload === undefined || received !== payload.length) {
        throw this.protocolError(`payload stream ended after ${received} of ${header?.payloadSize ?? '?'} bytes`)
      }
      return fromWireMessage({ ...header.message, payload })
    })
  }

  get state(): PeerState {
    return {
      peer: this.options.peerNode,
      address: this.options.address,
      breaker: this.breaker.state,
      consecutiveFailures: this.breaker.consecutiveFailures,
      ...this.forwarder.stats,
    }
  }

  /** Closes the forward stream (pending forwards reject with Closed) and the connection. */
  close(): void {
    this.forwarder.close()
    this.sessionManager.abort()
  }

  private protocolError(message: string): TransportError {
    return new TransportError(TransportErrorCode.Protocol, `${this.options.peerNode}: ${message}`, { peer: this.options.peerNode })
  }

  /** Runs an idempotent call; NOT_FOUND is undefined; an unreachable peer is retried, then reported. */
  private async withRetries<T>(call: () => Promise<T>): Promise<T | undefined> {
    for (let attempt = 1; ; attempt += 1) {
      if (this.breaker.state === 'open') {
        throw new TransportError(TransportErrorCode.PeerUnavailable, `circuit breaker to ${this.options.peerNode} is open`, { peer: this.options.peerNode })
      }
      try {
        return await call()
      } catch (caught) {
        if (caught instanceof ConnectError && caught.code === Code.NotFound) return undefined
        const error = callError(caught, this.options.peerNode)
        if (!isUnavailable(error) || attempt >= this.callAttempts) throw error
        await sleep(Math.min(1000, 50 * 2 ** (attempt - 1)))
      }
    }
  }
}
