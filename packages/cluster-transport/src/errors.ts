/** Stable codes; never reused for another meaning. */
export const TransportErrorCode = {
  /** The peer cannot be reached now: its circuit breaker is open, or the call failed on the way. */
  PeerUnavailable: 'FLUXMQ_ERR_TRANSPORT_PEER_UNAVAILABLE',
  /** The peer's handler refused the request; `remoteCode` holds the code it gave, when it gave one. */
  Rejected: 'FLUXMQ_ERR_TRANSPORT_REJECTED',
  /** The forwarder or peer was closed before the peer accepted. */
  Closed: 'FLUXMQ_ERR_TRANSPORT_CLOSED',
  /** The other side broke the wire contract (wrong node id, sequence outside the window, truncated stream, invalid field). */
  Protocol: 'FLUXMQ_ERR_TRANSPORT_PROTOCOL',
  /** A certificate, key or CA file cannot be read. */
  Tls: 'FLUXMQ_ERR_TRANSPORT_TLS',
  /** The server cannot listen on its address. */
  Listen: 'FLUXMQ_ERR_TRANSPORT_LISTEN',
  /**
   * A batch routed under a lease this node has lost since (`PeerSet.fence`): not sent, or not sent
   * again after a broken stream, so the peer never applies a stale routing decision.
   */
  Fenced: 'FLUXMQ_ERR_TRANSPORT_FENCED',
} as const
export type TransportErrorCode = (typeof TransportErrorCode)[keyof typeof TransportErrorCode]

export interface TransportErrorOptions {
  readonly cause?: unknown
  /** The node at the other end, when there is one. */
  readonly peer?: string
  /** The FLUXMQ_ERR_* code the peer's handler refused with (Rejected). */
  readonly remoteCode?: string
  /**
   * True when the request reached the peer and its fate is unknown: a forwarded batch that was
   * sent and never acknowledged. False means the peer certainly did not apply it.
   */
  readonly inDoubt?: boolean
}

export class TransportError extends Error {
  override readonly name = 'TransportError'
  readonly code: TransportErrorCode
  readonly peer: string | undefined
  readonly remoteCode: string | undefined
  readonly inDoubt: boolean

  constructor(code: TransportErrorCode, message: string, options: TransportErrorOptions = {}) {
    super(`${code}: ${message}`, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.peer = options.peer
    this.remoteCode = options.remoteCode
    this.inDoubt = options.inDoubt ?? false
  }
}

/** The text of whatever was thrown, for messages that must name the reason. */
export function describeCause(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause)
}

/** The stable code a handler's error carries (`code: 'FLUXMQ_ERR_…'`), if any. */
export function fluxmqCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && code.startsWith('FLUXMQ_ERR_') ? code : undefined
}
