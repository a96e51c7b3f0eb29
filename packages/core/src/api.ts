import type { Authorizer } from './auth.js'
import type { Cluster } from './cluster.js'
import type { Clock, Logger } from './ports.js'
import type { QoS } from './message.js'
import type { Storage } from './storage.js'
import type { QueuePort } from './queue-port.js'
import type { ClientIdentity } from './auth.js'
import type { Delivery, Message } from './message.js'
import type { PublishStatus, Refusal } from './refusal.js'
import type { Outcome } from './settlement.js'
import type { SessionProtocol, SubscriptionOptions, WillRecord } from './storage.js'

/**
 * The adapter's side of one live connection: how the core reaches the client. Calls are
 * synchronous; the adapter encodes and queues bytes, batching writes per socket per tick.
 */
export interface ClientLink {
  /**
   * Whether the target can take one more delivery now: its credit. For MQTT that is room below
   * the connection's write high-water mark (the QoS 1/2 window, Receive Maximum, is the core's
   * own count); for an AMQP link, link credit. While it is false the core queues deliveries in
   * the session, and the adapter calls `BrokerCore.creditAvailable` once it has room again.
   * Answers true once the link is closing: what is handed to it then stays inflight (QoS 1/2) and
   * is resent on the next connection.
   */
  hasCredit(): boolean
  /**
   * Sends one delivery: the message, or (`delivery.received`, a resend of a two-phase delivery
   * the target already received) only its second phase, MQTT's PUBREL. Returns false when the
   * adapter cannot send it to this client at all (larger than the client's Maximum Packet Size):
   * the core then treats it as delivered and keeps no unsettled state for it [MQTT-3.1.2-25].
   */
  deliver(delivery: Delivery): boolean
  /** The core ends this connection (session taken over, admin kick, shutdown); the adapter tells the client why in its protocol. */
  close(reason: Refusal, reasonString?: string): void
}

export interface ConnectRequest extends ClientIdentity {
  /** Non-empty: the adapter assigns an id (Assigned Client Identifier) before calling connect. */
  readonly clientId: string
  readonly protocol: SessionProtocol
  readonly cleanStart: boolean
  /**
   * Seconds, as the client asked. For MQTT 3.1.1 the adapter passes 0 for clean_session=1 and
   * 0xFFFFFFFF for clean_session=0; the core applies session.default_expiry / max_expiry.
   */
  readonly sessionExpiryInterval: number
  /** The client's Receive Maximum: how many QoS 1/2 deliveries may be unacknowledged at once. */
  readonly receiveMaximum: number
  readonly will?: WillRecord
}

export type ConnectResult =
  | {
      readonly ok: true
      readonly session: SessionHandle
      readonly sessionPresent: boolean
      /** The expiry actually applied (after max_expiry); MQTT 5 CONNACK reports it when it differs. */
      readonly sessionExpiryInterval: number
    }
  | { readonly ok: false; readonly reason: Refusal; readonly reasonString?: string }

/**
 * A connection's handle on its session. It goes stale when the session is taken over: calls
 * through a stale handle are ignored, so a late event from a closed socket cannot touch the
 * session its successor now owns.
 */
export interface SessionHandle {
  readonly clientId: string
  readonly identity: ClientIdentity
}

export interface SubscribeResult {
  /** One per request, in order: the granted QoS (0, 1, 2), or why the subscription was refused. */
  readonly codes: readonly (QoS | Refusal)[]
}

export interface PublishResult {
  /** `accepted`, `no_subscribers`, or a refusal (not_authorized, quota_exceeded, topic_invalid, …). */
  readonly reason: PublishStatus
  /**
   * Present when the message was written to storage (offline sessions, retained, queues): the
   * PUBACK/PUBREC must wait until it resolves. Absent when nothing durable was written.
   */
  readonly durable?: Promise<void>
  /**
   * Present when a QoS 1/2 delivery went into the queue of a connected session that was already
   * full: nothing was dropped, but the publisher must be slowed down. The adapter stops reading
   * the publisher until it resolves (the queue has drained, or the session went offline).
   */
  readonly backpressure?: Promise<void>
}

export interface DisconnectOptions {
  /** False only after a normal DISCONNECT (0x00); network loss, protocol errors, 0x04 publish the will. */
  readonly publishWill: boolean
  /** MQTT 5 DISCONNECT may change the Session Expiry Interval (not from 0 to non-zero: the adapter enforces it). */
  readonly sessionExpiryInterval?: number
}

/** Counters the composition root exports as metrics and the core publishes under $SYS. */
export interface BrokerStats {
  readonly connectionsCurrent: number
  readonly connectionsTotal: number
  readonly sessionsCurrent: number
  readonly subscriptionsCurrent: number
  readonly retainedCurrent: number
  readonly messagesReceived: number
  readonly messagesSent: number
  /** Every message not delivered to a subscriber it was routed to, whatever the reason. */
  readonly messagesDropped: number
  /** messagesDropped by reason (metric label `reason`). */
  readonly droppedByReason: Readonly<Record<DropReason, number>>
  readonly bytesReceived: number
  readonly bytesSent: number
  readonly inflightCurrent: number
  readonly offlineQueuedCurrent: number
  /**
   * An estimate of the memory held by the deliveries waiting in session queues (payload, topic and their objects; credit
   * exhausted, or the QoS 1/2 window full). With the adapters' write buffers it makes the
   * process-wide total that limits.max_buffered_bytes bounds.
   */
  readonly queuedBytes: number
  /** Publishes answered with `backpressure` (a connected subscriber's queue was full). */
  readonly backpressureEvents: number
}

/**
 * Why a message did not reach one subscriber: `queue_full` (QoS 0 while the session's queue is
 * full, or an offline queue's overflow policy), `expired` (Message Expiry), `too_large` (above the
 * client's Maximum Packet Size), `unsubscribed` (queued, then its subscription went away),
 * `disconnected` (QoS 0 waiting for credit when the client went away).
 */
export type DropReason = 'queue_full' | 'expired' | 'too_large' | 'unsubscribed' | 'disconnected'

/**
 * What protocol adapters call. Inbound events in, effects out through each session's ClientLink.
 * No sockets, no timers, no clock of its own: `tick(now)` is driven by the composition root.
 */
export interface BrokerCore {
  readonly nodeId: string
  /** Loads stored state; call once before anything else. */
  start(): Promise<void>
  /**
   * First phase of a graceful shutdown (idempotent): new connections are refused with
   * `server_shutting_down`, and the wills that closing every connection makes due (no Will Delay, or a
   * session that ends with its connection) are published now, while their subscribers are still
   * connected. Adapters call it before they close their connections; open connections are served
   * until they close.
   */
  beginShutdown(): void
  /**
   * Stops: begins the shutdown if that was not done, closes the connected links with
   * `server_shutting_down` (their delayed wills stay pending in Storage), flushes storage.
   */
  stop(): Promise<void>

  /** Authenticated CONNECT: claims the session (taking over a live one: the old link is closed with `session_taken_over`). */
  connect(request: ConnectRequest, link: ClientLink): Promise<ConnectResult>
  /**
   * Called by the adapter right after CONNACK is written: resends the unsettled deliveries (DUP,
   * or their second phase), then drains the offline queue within the client's Receive Maximum.
   */
  activate(session: SessionHandle): void
  /** The connection is gone (DISCONNECT, socket closed, protocol error, keepalive). */
  disconnect(session: SessionHandle, options: DisconnectOptions): void

  /** Routes a publish. `from` is null for broker-made messages. Exactly-once (MQTT QoS 2) uses publishExactlyOnce instead. */
  publish(from: SessionHandle | null, message: Message): PublishResult
  /**
   * An exactly-once incoming transfer (MQTT QoS 2 PUBLISH [MQTT-4.3.3]): routed on first receipt,
   * its transfer id (the MQTT packet id) remembered until released; a duplicate with a remembered
   * id is not routed again ('duplicate').
   */
  publishExactlyOnce(from: SessionHandle, transferId: number, message: Message): PublishResult & { readonly duplicate: boolean }
  /**
   * The sender released the transfer id (MQTT PUBREL): it is free for a new message and stays known
   * as released, so a release repeated after a reconnect is true again. False when it was unknown
   * (MQTT answers PacketIdentifierNotFound).
   */
  releaseExactlyOnce(from: SessionHandle, transferId: number): boolean

  /** The session's link has credit again after `ClientLink.hasCredit()` answered false: queued deliveries go out. */
  creditAvailable(session: SessionHandle): void

  /**
   * First phase of a two-phase settlement (QoS 2 deliveries): the target has the delivery and
   * settles it later (MQTT PUBREC, after which the adapter sends PUBREL; AMQP disposition state
   * received). `deliveryId` is the delivery id or its short id. False when no unsettled QoS 2
   * delivery has that id.
   */
  received(session: SessionHandle, deliveryId: number): boolean
  /**
   * Settles an unsettled delivery (MQTT PUBACK, or PUBCOMP after `received`; an AMQP
   * disposition): it leaves the window and the next waiting delivery may go. A QoS 2 delivery is
   * `accepted` only once received. What each outcome means for a topic delivery and for a queue
   * delivery: settlement.ts. `deliveryId` is the delivery id or its short id. False when unknown.
   */
  settle(session: SessionHandle, deliveryId: number, outcome: Outcome): boolean

  subscribe(session: SessionHandle, requests: readonly SubscriptionOptions[]): SubscribeResult
  /** After SUBACK is written: sends retained messages per each granted subscription's Retain Handling. */
  deliverRetained(session: SessionHandle, requests: readonly SubscriptionOptions[], result: SubscribeResult): void
  /** One per filter: whether the session had that subscription (it has not any more). */
  unsubscribe(session: SessionHandle, filters: readonly string[]): boolean[]

  /** Timers: will delay, session expiry, message expiry, retry_interval resends, $SYS every 10 s. */
  tick(now: number): void

  /**
   * Write-ahead barrier of one session: resolves once every storage write staged so far for
   * `clientId`'s session is durable (rejects when Storage failed); undefined when none is waiting.
   * Adapters hold a connection's outgoing packets behind it (and behind that connection's earlier
   * held packets), so no client sees an acknowledgement or delivery that a restart would undo;
   * a session whose state was not written (expiry 0, or QoS 0 traffic) is never held behind
   * another session's commit. What a publisher's acknowledgement depends on in other sessions
   * (offline queues, retained, forwarding) is `PublishResult.durable`. Asking consumes nothing.
   * Without a client id: resolves once every write staged so far, of any session, is durable
   * (a connection's last packet waits for that: the acknowledgements still owed to it depend on
   * other sessions' writes).
   */
  durable(clientId?: string): Promise<void> | undefined

  readonly stats: BrokerStats
  /** Adapters report wire traffic so the core's counters and $SYS cover it. */
  countBytes(received: number, sent: number): void
}

/** How the composition root configures the core (SPEC §2 broker.* and session.* keys, in core units). */
export interface BrokerOptions {
  readonly nodeId: string
  readonly version: string
  readonly clock: Clock
  readonly logger: Logger
  readonly storage: Storage
  /** Defaults to a LocalCluster (single node). */
  readonly cluster?: Cluster
  /** Defaults to allow-all. */
  readonly authorizer?: Authorizer
  readonly maxQos: QoS
  readonly retryIntervalMs: number
  readonly maxOfflineMessages: number
  readonly offlineOverflow: 'drop_oldest' | 'reject_new'
  /** Seconds, applied to MQTT 3.1.1 clean_session=0 sessions. */
  readonly defaultExpiry: number
  /** Seconds; 0 = honour the client's value. */
  readonly maxExpiry: number
  /** 0 = unlimited. */
  readonly maxRetainedMessages: number
  /** 0 = unlimited. */
  readonly maxSubscriptionsPerClient: number
  /** $SYS publishing period; 0 disables $SYS. */
  readonly sysIntervalMs: number
  /**
   * broker.receive_maximum, 1..65535 (default 256): the Receive Maximum the protocol adapters
   * advertise, i.e. how many QoS 2 messages a client may have awaiting PUBCOMP at once. Each
   * session remembers that many released incoming QoS 2 ids, so a PUBREL repeated after a lost
   * PUBCOMP is recognised for every message the client can have had outstanding.
   */
  readonly receiveMaximum?: number
  /**
   * The durable queues (SPEC §4), a route target beside subscriptions: `$queue/…` publishes and
   * captured topics are appended through it, `$queue/<name>` subscriptions consume from it. Without
   * it `$queue/…` topics are ordinary topics.
   */
  readonly queues?: QueuePort
}
