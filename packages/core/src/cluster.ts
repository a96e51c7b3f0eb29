import type { Message } from './message.js'
import type { InflightRecord, SessionRecord, StoredSession, SubscriptionOptions, WillRecord } from './storage.js'

/** A session handed from one owner to the next (takeover across nodes, or a dead node's session restored). */
export interface TransferredSession {
  /** Its `epoch` is the ownership the state was kept under; older than the claim that receives it. */
  readonly session: SessionRecord
  readonly subscriptions: readonly SubscriptionOptions[]
  readonly inflight: readonly InflightRecord[]
  readonly incomingQos2: readonly number[]
  /** Released incoming QoS 2 packet ids (absent from older peers: none). */
  readonly releasedQos2?: readonly number[]
  readonly offline: readonly Message[]
  /**
   * The delayed will of the connection the surrender closed. The new owner publishes it when the
   * new connection ends the session (Clean Start), and drops it otherwise [MQTT-3.1.3-9], as a
   * takeover on one node does. A will without delay was already published by the old owner.
   */
  readonly takeoverWill?: WillRecord
}

export interface SessionClaim {
  /** State brought from the previous owner when it was another node; undefined when the session was local or new. */
  readonly transferred?: TransferredSession
  /**
   * Fencing token of this ownership; increases with every move, and never decreases for a client
   * id. A claim older than the session's epoch here is refused (`FLUXMQ_ERR_STALE_EPOCH`).
   */
  readonly epoch: number
  /**
   * Publishes that reached this node for the client while its state was in transit from another
   * node, in arrival order. The core calls it once, right after attaching the claimed session (which
   * ends the holding), and offers each to that session alone, through its subscriptions.
   */
  readonly held?: () => readonly Message[]
}

/** A stored session offered to the cluster at start-up, with the epoch its record was written under. */
export interface StoredClaim {
  readonly clientId: string
  readonly epoch: number
  /** Whether its record holds a pending will (written under `epoch`). */
  readonly will: boolean
}

/** A stored session this node owns after the start-up claim. */
export interface StoredOwnership {
  readonly epoch: number
  /**
   * Its pending will is no longer this node's: the cluster published it (or dropped it, its
   * client having come back elsewhere) while this node was down. The session is loaded without it.
   */
  readonly willHandled: boolean
}

/**
 * An unsettled delivery of a copy of a session that another node kept (a node that returns with
 * its data hands it on): the id it went out with, and whether the target confirmed receipt (QoS 2,
 * MQTT PUBREC). Offered with it, the delivery keeps that id, so the client recognises a resend.
 */
export interface CarriedDelivery {
  readonly deliveryId: number
  /** The delivery's own QoS and RETAIN (the subscription's, not the publish's). */
  readonly qos: 1 | 2
  readonly retain: boolean
  readonly received: boolean
}

/** What the cluster plane calls back into the local broker. */
export interface ClusterInbound {
  /** A publish routed here by another node: match against local subscriptions only, never forward again. */
  deliverLocal(message: Message): void
  /**
   * A publish another node relays for one client whose session it surrendered to this node:
   * offered to that session alone, through its subscriptions, never forwarded again. False when no
   * session of that client is here. `carried`: it was unsettled in another copy of the session
   * (Session.carry): resent with its delivery id when that id is free here.
   */
  deliverTo(clientId: string, message: Message, carried?: CarriedDelivery): boolean
  /**
   * A publish offered only to the sessions here whose subscriptions match it and that `among`
   * names (shared subscriptions excluded), never forwarded again. Returns their client ids.
   */
  deliverAmong(message: Message, among: (clientId: string) => boolean): string[]
  /**
   * Another node takes this client over under `epoch`: disconnect it here (session_taken_over) and hand over its
   * state. Rejects with `FLUXMQ_ERR_STALE_EPOCH` when `epoch` is not newer than the session's here.
   */
  surrenderSession(clientId: string, epoch: number): Promise<TransferredSession | undefined>
  /**
   * This node no longer owns these sessions (its lease expired, another node claimed them): they
   * stop being served here at once. Their stored state is kept, their wills are not published
   * here, and the cluster is not told back (the new owner holds the ownership). Returns what is
   * kept in Storage for the persistent ones, as a start would load it, so the cluster can hand
   * what they held on to their next owner.
   */
  ownershipLost(clientIds: readonly string[]): StoredSession[]
  /**
   * A persistent session this node claimed under `epoch` for a client connected nowhere, held
   * here offline until the client comes back (then taken over like any other): from what this
   * node kept of it when it lost its lease (`stored`, its queue still in Storage), or from what
   * etcd saved of a dead node's session (`transferred`). Publishes for it queue here as for any
   * offline session, and it expires as usual. A will comes with it only from `stored` when the
   * cluster says it is still this node's (`willHandled` false); otherwise it stays with whoever
   * held it (the leader publishes a dead node's). False when this node has a session of that
   * client already or is not serving.
   */
  holdSession(epoch: number, state: HeldState): boolean
}

/**
 * What an offline session held for an absent client starts from (`ClusterInbound.holdSession`).
 * `willHandled`: the pending will `stored` names is not this hold's to publish (another node may
 * have published it); false keeps it, due as scheduled.
 */
export type HeldState = { readonly stored: StoredSession; readonly willHandled: boolean } | { readonly transferred: TransferredSession }

/**
 * The seam to the cluster. Single node: `LocalCluster` answers everything at once. Clustered: the
 * etcd metadata plane and the gRPC data plane implement it. The core never knows which.
 */
export interface Cluster {
  readonly nodeId: string
  attach(inbound: ClusterInbound): void
  /**
   * At start-up, before any stored session gets routes or fires a will: which of them this node
   * owns, with the epoch of that ownership and whether their pending will is still theirs to
   * publish. Sessions absent from the answer belong to another node and are not loaded here; the
   * cluster may hand what they had queued to their owner and then delete them from the storage.
   * A will the answer leaves to this node is published here, at the first `tick` after `start()`
   * when the crash made it due (once the node has joined the cluster), so the claim must keep
   * every other node from publishing it too.
   */
  claimStored(sessions: readonly StoredClaim[]): Promise<ReadonlyMap<string, StoredOwnership>>
  /** Claims ownership of a session before it is attached here; may take a network round trip. */
  acquireSession(clientId: string): Promise<SessionClaim>
  /** The session ended here (expired or clean): ownership is dropped. */
  releaseSession(clientId: string): void
  /** This node's local subscriber count for a filter went from 0 to 1. */
  addRoute(filter: string): void
  /** … and from 1 to 0. */
  removeRoute(filter: string): void
  /**
   * Sends a publish to every other node with matching routes (the receiving node matches locally).
   * Returns undefined when it sent it nowhere, else a promise that resolves once every node it was
   * sent to accepted it (routed it and made it as durable as its own publishes), and rejects when
   * one refused it or could not be reached. `unattended`: nobody sends it again when a node
   * refuses it (a will: its client is gone); the cluster then sends it again itself to the
   * sessions that node served, wherever they are served next.
   */
  forward(message: Message, unattended?: boolean): Promise<void> | undefined
  /**
   * Whether this node delivers `message` to the shared subscription `filter`
   * (`$share/<group>/<filter>`), which may have members on other nodes too. Every node must give
   * the same answer for one message (from what the message carries), so that exactly one member
   * cluster-wide receives it [MQTT-4.8.2]. Asked on the publishing node and on every node the
   * message was forwarded to. Absent: this node always serves its own members (single node).
   */
  servesShared?(filter: string, message: Message): boolean
  /**
   * Asked for each QoS 1/2 publish of this node's clients (not retained): resolves once the routes
   * for `topic` are settled, when another node's routes matching it vanished with its lease a
   * moment ago and nobody routes them again yet (the leader is adopting that node's persistent
   * sessions). Routed meanwhile, the publish reached nobody and was acknowledged all the same; the
   * core routes it once this resolves. Undefined (the hot path): nothing to wait for. Absent:
   * never (single node).
   */
  routesSettling?(topic: string): Promise<void> | undefined
  /**
   * Asked before a stored session's will is published here: takes the will out of the cluster's
   * metadata while this node still owns the session at `epoch`, so that no other node publishes
   * it too (the leader publishes the wills of a node it saw die, and a node cannot see from inside
   * that its lease already lapsed: it was frozen, or cut off from etcd). True: this node, and no
   * other, publishes it. False: another node owns the session now, or the cluster stopped before
   * it could tell. Absent: a will is always this node's to publish (single node). Present, the
   * core stores every session with a will, one that ends with its connection included, so that
   * the cluster can record the will where the other nodes see it.
   */
  takeWill?(clientId: string, epoch: number): Promise<boolean>
}
