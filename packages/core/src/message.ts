export type QoS = 0 | 1 | 2

/** One user property. Order is kept and names may repeat (MQTT 5 §3.3.2.3.7, AMQP application-properties map onto it). */
export type UserProperty = readonly [name: string, value: string]

/** Properties that travel with a message end to end, whatever protocol carried it in or out. */
export interface MessageProperties {
  payloadFormatIndicator?: boolean
  contentType?: string
  responseTopic?: string
  correlationData?: Buffer
  userProperties?: readonly UserProperty[]
}

/**
 * The protocol-neutral message every adapter produces and consumes. Immutable once routed: the
 * same object is shared by every subscriber it is delivered to, so adapters keep its encoded
 * forms in `wire`, shared by every delivery in their protocol.
 */
export interface Message {
  readonly topic: string
  readonly payload: Buffer
  readonly qos: QoS
  readonly retain: boolean
  readonly properties: MessageProperties
  /** Absolute expiry in ms since the epoch (from Message Expiry Interval); undefined = never. */
  readonly expiresAt?: number
  /** When the broker accepted it, ms since the epoch. */
  readonly publishedAt: number
  /** Client id of the publisher, for No Local; undefined for broker-made messages ($SYS, wills of gone clients). */
  readonly publisherId?: string
  /**
   * Encoded forms kept by the adapters that delivered the message: a chain of `WireCache`s, one
   * per adapter, each holding one form per distinct outgoing form of its protocol (for MQTT:
   * version × QoS × RETAIN × properties variant). Read and extended only through `wireCache` /
   * `keepWireCache` (wire-cache.ts), so an adapter never meets another's forms. Never persisted;
   * a Message built from another one starts without it.
   */
  wire?: unknown
}

/** One message as it goes to one subscriber. */
export interface Delivery {
  readonly message: Message
  /** min(message QoS, granted QoS). */
  readonly qos: QoS
  /** RETAIN flag as delivered: true for retained-on-subscribe, else message.retain only with Retain As Published. */
  readonly retain: boolean
  /**
   * The id the target settles it by (QoS 1/2), 0 for QoS 0: 32-bit, with a short id (low 16 bits)
   * that is never 0 and unique among the session's unsettled deliveries (delivery-ids.ts).
   */
  readonly deliveryId: number
  /** Sent before and not settled: this is a resend (after a reconnect, or the retry interval). */
  readonly dup: boolean
  /**
   * The target confirmed receipt (first phase of a two-phase settlement) and the delivery waits
   * for its final settlement: a resend of it resends that phase (MQTT PUBREL), not the message.
   */
  readonly received: boolean
  /** Subscription identifiers of every matching subscription of this session (MQTT 5 §3.3.4). */
  readonly subscriptionIds?: readonly number[]
}
