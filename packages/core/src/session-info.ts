import type { Session } from './session.js'
import type { SessionProtocol, SubscriptionOptions } from './storage.js'

/** A read-only snapshot of one session, for admin APIs and metrics (not the hot path). */
export interface SessionInfo {
  readonly clientId: string
  readonly protocol: SessionProtocol
  readonly username?: string
  readonly remoteAddress?: string
  readonly connected: boolean
  /** Seconds as applied (after max_expiry); 0xFFFFFFFF = never expires. */
  readonly expiryInterval: number
  /** ms since the epoch; undefined while connected. */
  readonly disconnectedAt?: number
  readonly subscriptions: readonly SubscriptionOptions[]
  /** Unacknowledged outgoing QoS 1/2 deliveries. */
  readonly inflight: number
  /** Messages waiting in the pending / offline queue. */
  readonly queued: number
  /** A will that is still to be published (connected, or disconnected within its delay). */
  readonly willPending: boolean
}

export function sessionInfo(s: Session): SessionInfo {
  return {
    clientId: s.clientId,
    protocol: s.protocol,
    username: s.identity.username,
    remoteAddress: s.identity.remoteAddress,
    connected: s.handle !== undefined,
    expiryInterval: s.expiryInterval,
    disconnectedAt: s.disconnectedAt,
    subscriptions: [...s.subscriptions.values()].map((sub) => sub.options),
    inflight: s.inflight.size,
    queued: s.queued,
    willPending: s.will !== undefined,
  }
}
