import type { Message } from './message.js'
import type { InflightRecord, SessionRecord, SubscriptionOptions } from './storage.js'

/** A session handed from one owner to the next (takeover across nodes, or a dead node's session restored). */
export interface TransferredSession {
  readonly session: SessionRecord
  readonly subscriptions: readonly SubscriptionOptions[]
  readonly inflight: readonly InflightRecord[]
  readonly incomingQos2: readonly number[]
  /** Released incoming QoS 2 packet ids (absent from older peers: none). */
  readonly releasedQos2?: readonly number[]
  readonly offline: readonly Message[]
}

export interface SessionClaim {
  /** State brought from the previous owner when it was another node; undefined when the session was local or new. */
  readonly transferred?: TransferredSession
  /** Fencing token of this ownership; increases with every move. */
  readonly epoch: number
}

/** What the cluster plane calls back into the local broker. */
export interface ClusterInbound {
  /** A publish routed here by another node: match against local subscriptions only, never forward again. */
  deliverLocal(message: Message): void
  /** Another node takes this client over: disconnect it here (0x8E) and hand over its state. */
  surrenderSession(clientId: string): Promise<TransferredSession | undefined>
}

/**
 * The seam to the cluster. Single node: `LocalCluster` answers everything at once. Clustered: the
 * etcd metadata plane and the gRPC data plane implement it. The core never knows which.
 */
export interface Cluster {
  readonly nodeId: string
  attach(inbound: ClusterInbound): void
  /** Claims ownership of a session before it is attached here; may take a network round trip. */
  acquireSession(clientId: string): Promise<SessionClaim>
  /** The session ended here (expired or clean): ownership is dropped. */
  releaseSession(clientId: string): void
  /** This node's local subscriber count for a filter went from 0 to 1. */
  addRoute(filter: string): void
  /** … and from 1 to 0. */
  removeRoute(filter: string): void
  /** Sends a publish to every other node with matching routes (the receiving node matches locally). */
  forward(message: Message): void
}
