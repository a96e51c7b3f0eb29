import type { Message } from './message.js'

import type { Outcome } from './settlement.js'

/**
 * How a consumer settles a queue delivery, in AMQP's vocabulary (SPEC §4, §5): `accepted` = ack,
 * `released` = back at once and not counted, `modified` = nack, `rejected` = to the dead-letter queue.
 */
export type QueueOutcome = Outcome

/** One queue message handed to one consumer, under the credit the core granted it. */
export interface QueuePortDelivery {
  readonly consumerId: string
  /** Unique among the consumer's unsettled deliveries. */
  readonly deliveryId: number
  readonly group: string
  /** `<queue>:<offset>`, what settlement by message id names. */
  readonly messageId: string
  /** The stored message with the SPEC §4 delivery user properties appended. */
  readonly message: Message
}

export interface QueueAttach {
  /** Unique among attached consumers. */
  readonly consumerId: string
  readonly queue: string
  readonly group?: string
  /** Stream queues only: `first`, `last`, `<offset>`, `timestamp=<ms>`. */
  readonly cursor?: string
  /**
   * A topic filter on the routing key (`$queue/<name>/<filter>`, SPEC §4): the group gets the
   * messages whose key matches and skips the others. None, or `#`, takes every message.
   */
  readonly filter?: string
  /**
   * Credit as a window of unsettled deliveries (MQTT manual ack): a delivery's credit comes back to
   * this consumer once it no longer holds it, however that happens (settled by anyone, visibility
   * timeout, retention). Without it credit is spent per delivery and only grant() gives it back
   * (AMQP link credit; MQTT auto ack, where the PUBACK is the grant).
   */
  readonly window?: boolean
}

/**
 * The durable queues (SPEC §4) as the core sees them: a route target beside subscriptions. The
 * composition root fills it with the queue engine; the core knows no SQLite and no queue log.
 *
 * A call that refuses its input (bad queue or group name, bad cursor, unknown message id, engine
 * stopped) throws an error with a stable `code` and the `reason` (a Refusal) the client gets;
 * the core logs it once with the client id and answers that reason.
 */
export interface QueuePort {
  /** Where deliveries go; the broker sets it once, before anything else is called. */
  bind(deliver: (delivery: QueuePortDelivery) => void): void
  /**
   * Appends a publish to `$queue/<name>[/<key>]`, or to every queue whose topic filters capture
   * its topic. Undefined when no queue takes it; else resolves once the append is durable.
   */
  publish(message: Message): Promise<void> | undefined
  attach(consumer: QueueAttach): void
  /** `credit` more deliveries for the consumer; each delivery uses one. */
  grant(consumerId: string, credit: number): void
  /** Settles a delivery by id; resolves once the settlement is durable. */
  settle(consumerId: string, deliveryId: number, outcome: QueueOutcome): Promise<void>
  /** Settles a pending message by message id and group, whoever sends it (`$ack`/`$nack`/`$reject`). */
  settleMessage(messageId: string, group: string, outcome: QueueOutcome, reason?: string): Promise<void>
  /** Removes a consumer; what it holds unsettled returns after the queue's visibility timeout. */
  detach(consumerId: string): void
}
