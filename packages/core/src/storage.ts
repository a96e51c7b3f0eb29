import type { Message, QoS } from './message.js'

/** What a client asked for when it subscribed; kept with the session. */
export interface SubscriptionOptions {
  /** The filter as the client wrote it, `$share/<group>/<filter>` included. */
  readonly filter: string
  readonly qos: QoS
  readonly noLocal: boolean
  readonly retainAsPublished: boolean
  /** 0 send retained on subscribe, 1 only if the subscription is new, 2 never. */
  readonly retainHandling: 0 | 1 | 2
  readonly subscriptionId?: number
  /** MQTT 5 SUBSCRIBE user properties / AMQP attach properties (consumer-group, ack-mode, cursor for queues). */
  readonly userProperties?: readonly (readonly [string, string])[]
}

export type SessionProtocol = 'mqtt3' | 'mqtt5' | 'amqp'

export interface WillRecord {
  readonly message: Message
  /** Will Delay Interval in seconds. */
  readonly delayInterval: number
}

export interface SessionRecord {
  readonly clientId: string
  readonly protocol: SessionProtocol
  /** Seconds the session outlives its connection; 0xFFFFFFFF = never expires. */
  readonly expiryInterval: number
  /** ms since the epoch when the last connection closed; undefined while connected. */
  readonly disconnectedAt?: number
  /** A will that is still pending (connection gone, delay not yet elapsed). */
  readonly will?: WillRecord
  /**
   * The cluster ownership epoch (`SessionClaim.epoch`) the record was written under; absent in
   * records written before epochs were kept (read as 0). Offered back to the cluster at start-up.
   */
  readonly epoch?: number
}

/** An outgoing QoS 1/2 delivery the target has not settled. */
export interface InflightRecord {
  /** Its delivery id: a resend carries it again, and with it the same short id (MQTT packet id). */
  readonly deliveryId: number
  readonly message: Message
  readonly qos: 1 | 2
  readonly retain: boolean
  readonly subscriptionIds?: readonly number[]
  /**
   * 'delivered': sent, waiting for the target's outcome (or, QoS 2, its receipt); 'received': the
   * target confirmed receipt (MQTT PUBREC), waiting for the final settlement (PUBCOMP).
   */
  readonly state: 'delivered' | 'received'
}

/** Everything a broker loads when it starts. Offline queues are NOT loaded: only their length. */
export interface StoredSession {
  readonly session: SessionRecord
  readonly subscriptions: readonly SubscriptionOptions[]
  readonly inflight: readonly InflightRecord[]
  /** Packet ids of incoming QoS 2 messages that got PUBREC but no PUBREL yet. */
  readonly incomingQos2: readonly number[]
  /** Packet ids of incoming QoS 2 messages released (PUBREL answered), kept to recognise a repeated PUBREL. */
  readonly releasedQos2: readonly number[]
  readonly offlineCount: number
}

export interface StoredState {
  readonly sessions: readonly StoredSession[]
  readonly retained: readonly Message[]
}

/**
 * Durable broker state. Writes are staged synchronously and applied in order; the backend groups
 * every write of one event-loop turn into one transaction. `sync()` resolves once every write
 * staged before the call is durable (per `storage.sync`); the core awaits it before it sends an
 * acknowledgement that promises persistence. A memory backend's `sync()` resolves at once.
 *
 * Every backend passes the conformance suite exported by @fluxmq/storage.
 */
export interface Storage {
  /** Opens (creating or migrating) and loads everything the broker keeps in memory. */
  open(): Promise<StoredState>
  close(): Promise<void>
  sync(): Promise<void>

  putSession(record: SessionRecord): void
  /** Removes the session and everything that hangs off it: subscriptions, inflight, incoming QoS 2 ids, offline queue. */
  deleteSession(clientId: string): void

  putSubscription(clientId: string, sub: SubscriptionOptions): void
  deleteSubscription(clientId: string, filter: string): void

  putInflight(clientId: string, record: InflightRecord): void
  deleteInflight(clientId: string, deliveryId: number): void

  /** Records a received incoming QoS 2 packet id; one that was released becomes received again. */
  putIncomingQos2(clientId: string, packetId: number): void
  /** Marks a recorded incoming QoS 2 packet id released (PUBREL came); an unknown id is ignored. */
  releaseIncomingQos2(clientId: string, packetId: number): void
  /** Forgets an incoming QoS 2 packet id, received or released. */
  deleteIncomingQos2(clientId: string, packetId: number): void

  /** Appends to the session's offline queue (FIFO). The same Message object may be appended to many sessions. */
  appendOffline(clientId: string, message: Message): void
  /** Drops the n oldest offline messages (the drop_oldest overflow policy). */
  dropOldestOffline(clientId: string, n: number): void
  /** Removes and returns up to `limit` oldest offline messages. Reads lazily: called when a session resumes. */
  takeOffline(clientId: string, limit: number): Promise<Message[]>

  putRetained(message: Message): void
  deleteRetained(topic: string): void
}
