import type { PublishResult } from './api.js'
import { BrokerErrorCode } from './errors.js'
import { Fifo } from './fifo.js'
import type { Message, QoS } from './message.js'
import { Outgoing } from './outgoing.js'
import type { Logger } from './ports.js'
import type { QueueOutcome, QueuePort, QueuePortDelivery } from './queue-port.js'
import { Refusal } from './refusal.js'
import type { Session, SessionFeed } from './session.js'
import type { Stats } from './stats.js'
import type { SubscriptionOptions } from './storage.js'

/** SPEC §4 names: publish to and consume from `$queue/<name>[/…]`; dead letters live in `$dlq/<name>`. */
const QUEUE_PREFIX = '$queue/'
const DLQ_PREFIX = '$dlq/'
const SETTLEMENTS: Readonly<Record<string, QueueOutcome>> = { $ack: 'accepted', $nack: 'modified', $reject: 'rejected' }
/** SUBSCRIBE user properties (MQTT 5) / attach properties (AMQP) of a queue consumer, and a settlement's. */
const Property = {
  ConsumerGroup: 'consumer-group',
  AckMode: 'ack-mode',
  Cursor: 'cursor',
  MessageId: 'message-id',
  GroupId: 'group-id',
  Reason: 'reason',
} as const
const DEFAULT_GROUP = 'default'

/** Whether a filter or topic addresses the queues: `$queue/…`, or a dead-letter queue `$dlq/<name>`. */
export function isQueueFilter(filter: string): boolean {
  return filter.startsWith(QUEUE_PREFIX) || filter.startsWith(DLQ_PREFIX)
}

export function isQueueTopic(topic: string): boolean {
  return topic.startsWith(QUEUE_PREFIX)
}

/** The queue a consumer filter names and the routing-key filter after it. */
function consumerTarget(filter: string): { queue: string; rest: string | undefined } {
  // A dead-letter queue's name is `$dlq/<name>` itself.
  if (filter.startsWith(DLQ_PREFIX)) return { queue: filter, rest: undefined }
  const slash = filter.indexOf('/', QUEUE_PREFIX.length)
  if (slash === -1) return { queue: filter.slice(QUEUE_PREFIX.length), rest: undefined }
  return { queue: filter.slice(QUEUE_PREFIX.length, slash), rest: filter.slice(slash + 1) }
}

/**
 * The outcome a `$queue/<name>/$ack|$nack|$reject` topic stands for, undefined for any other.
 * Every queue publish and settlement asks, so it allocates nothing for a topic that is not one.
 */
function settlementOutcome(topic: string): QueueOutcome | undefined {
  const last = topic.lastIndexOf('/')
  // `$` right after the last slash, and that slash the one after the queue name.
  if (topic.charCodeAt(last + 1) !== 0x24 || topic.indexOf('/', QUEUE_PREFIX.length) !== last) return undefined
  return SETTLEMENTS[topic.slice(last + 1)]
}

function property(props: readonly (readonly [string, string])[] | undefined, name: string): string | undefined {
  return props?.find(([key]) => key === name)?.[1]
}

/** A refusal thrown by the QueuePort: stable code, the refusal the client gets. */
interface PortRefusal {
  readonly code: string
  readonly reason: Refusal
  readonly message: string
}

function portRefusal(err: unknown): PortRefusal | undefined {
  if (typeof err !== 'object' || err === null) return undefined
  const { code, reason } = err as { code?: unknown; reason?: unknown }
  return typeof code === 'string' && typeof reason === 'string' ? (err as PortRefusal) : undefined
}

/** One queue consumer: a subscription of one connection to `$queue/<name>` in one group. */
class QueueConsumer {
  /** Deliveries the engine handed over that the session has no room for yet (at most the credit). */
  waiting: Fifo<QueueOutgoing> | undefined
  attached = true

  constructor(
    readonly id: string,
    readonly session: Session,
    readonly queue: string,
    readonly group: string,
    readonly manual: boolean,
    readonly qos: QoS,
    readonly ids: readonly number[] | undefined,
    readonly bindings: QueueBindings,
  ) {}
}

/** A queue delivery on its way to a session: an Outgoing that remembers its queue delivery. */
class QueueOutgoing extends Outgoing {
  constructor(
    readonly consumer: QueueConsumer,
    readonly delivery: QueuePortDelivery,
  ) {
    super(delivery.message, consumer.qos, false, consumer.ids)
  }

  override get external(): boolean {
    return true
  }

  override settled(outcome: QueueOutcome): void {
    this.consumer.bindings.settled(this, outcome)
  }
}

/** The queue consumers of one connection, fed into its session's free room. */
class SessionConsumers implements SessionFeed {
  readonly byFilter = new Map<string, QueueConsumer>()

  constructor(
    private readonly session: Session,
    private readonly bindings: QueueBindings,
  ) {}

  drain(): void {
    for (const consumer of this.byFilter.values()) {
      const waiting = consumer.waiting
      if (waiting === undefined) continue
      while (waiting.length > 0 && consumer.attached && this.session.roomFor(consumer.qos)) {
        this.bindings.send(waiting.shift() as QueueOutgoing)
      }
      if (waiting.length === 0) consumer.waiting = undefined
    }
  }

  detach(): void {
    for (const consumer of [...this.byFilter.values()]) this.bindings.detach(consumer)
    this.byFilter.clear()
  }
}

/**
 * Queues as a route target beside subscriptions (SPEC §4): publishes to `$queue/…` and topics a
 * queue captures are appended through the QueuePort; subscriptions to `$queue/<name>` attach
 * consumers whose deliveries go to the session under credit (the Receive Maximum window, capped
 * by the server's); PUBACK settles in auto mode, `$ack`/`$nack`/`$reject` publishes in manual mode.
 * Consumers live as long as their connection: it detaches them, and what they held returns after
 * the queue's visibility timeout.
 */
export class QueueBindings {
  private readonly consumers = new Map<string, QueueConsumer>()

  constructor(
    private readonly port: QueuePort,
    private readonly stats: Stats,
    private readonly logger: Logger,
    /** The most deliveries a consumer holds unacknowledged, whatever the client's Receive Maximum. */
    private readonly maxCredit: number,
  ) {
    port.bind((delivery) => this.deliver(delivery))
  }

  /** A publish to `$queue/…` from a session (null: broker-made): an append, or a settlement. */
  publish(s: Session | null, message: Message): PublishResult {
    this.stats.messagesReceived++
    const outcome = settlementOutcome(message.topic)
    if (outcome !== undefined) return this.settlement(s, message, outcome)
    try {
      return { reason: 'accepted', durable: this.port.publish(message) }
    } catch (err) {
      return { reason: this.refused(err, s, message.topic, 'queue publish refused') }
    }
  }

  /** An ordinary publish: appended to the queues capturing its topic; undefined when none does. */
  capture(message: Message): Promise<void> | undefined {
    try {
      return this.port.publish(message)
    } catch (err) {
      // Only a stopped engine refuses an ordinary topic: the publisher is not acknowledged.
      this.refused(err, null, message.topic, 'queue capture failed')
      return Promise.reject(err as Error)
    }
  }

  /** SUBSCRIBE to `$queue/<name>[/<filter>]` or `$dlq/<name>`: attaches a consumer; the granted QoS or the refusal. */
  subscribe(s: Session, req: SubscriptionOptions): QoS | Refusal {
    const { queue, rest } = consumerTarget(req.filter)
    const props = req.userProperties
    const ackMode = property(props, Property.AckMode) ?? 'auto'
    if (ackMode !== 'auto' && ackMode !== 'manual') return this.refusedSubscription(s, req.filter, `ack-mode ${ackMode} is neither auto nor manual`)
    const group = property(props, Property.ConsumerGroup) ?? DEFAULT_GROUP
    const cursor = property(props, Property.Cursor)
    const feed = this.feedOf(s)
    const existing = feed.byFilter.get(req.filter)
    // A repeated SUBSCRIBE replaces the consumer [MQTT-3.8.4-3].
    if (existing !== undefined) {
      feed.byFilter.delete(req.filter)
      this.detach(existing)
    }
    const id = `${s.clientId}/${req.filter}`
    try {
      // Manual mode: the credit is the window of messages not yet settled by `$ack`/`$nack`/`$reject`,
      // given back to whichever consumer held one however it ends (even a visibility timeout).
      this.port.attach({
        consumerId: id,
        queue,
        group,
        ...(cursor === undefined ? {} : { cursor }),
        ...(rest === undefined ? {} : { filter: rest }),
        ...(ackMode === 'manual' ? { window: true } : {}),
      })
    } catch (err) {
      return this.refused(err, s, req.filter, 'queue subscription refused')
    }
    // QoS 1 is enough for at-least-once; QoS 0 consumers get at-most-once (settled when sent).
    const qos = (req.qos > 1 ? 1 : req.qos) as QoS
    const ids = req.subscriptionId === undefined ? undefined : [req.subscriptionId]
    const consumer = new QueueConsumer(id, s, queue, group, ackMode === 'manual', qos, ids, this)
    this.consumers.set(id, consumer)
    feed.byFilter.set(req.filter, consumer)
    this.logger.info({ clientId: s.clientId, queue, group, ackMode, cursor }, 'queue consumer attached')
    return qos
  }

  /** After SUBACK: the new consumer gets its credit, and deliveries start. */
  start(s: Session, filter: string): void {
    const consumer = s.feed instanceof SessionConsumers ? s.feed.byFilter.get(filter) : undefined
    if (consumer === undefined || !consumer.attached) return
    this.grant(consumer, Math.min(s.receiveMaximum, this.maxCredit))
  }

  /**
   * A resumed session's queue subscription (kept with the session) attaches again and gets its
   * credit. Without its cursor: the group goes on from where it is instead of replaying.
   */
  resume(s: Session, options: SubscriptionOptions): void {
    if (s.feed instanceof SessionConsumers && s.feed.byFilter.has(options.filter)) return
    const userProperties = options.userProperties?.filter(([name]) => name !== Property.Cursor)
    const code = this.subscribe(s, { ...options, ...(userProperties === undefined ? {} : { userProperties }) })
    if (typeof code === 'number') this.start(s, options.filter)
  }

  /** UNSUBSCRIBE of a queue filter; false when the session has no such consumer. */
  unsubscribe(s: Session, filter: string): boolean {
    const feed = s.feed instanceof SessionConsumers ? s.feed : undefined
    const consumer = feed?.byFilter.get(filter)
    if (feed === undefined || consumer === undefined) return false
    feed.byFilter.delete(filter)
    this.detach(consumer)
    return true
  }

  /** Sends one delivery the session has room for. */
  send(out: QueueOutgoing): void {
    const consumer = out.consumer
    const sent = consumer.session.sendFed(out)
    if (sent && out.qos > 0) return
    // Settled at once (and, in the engine's own delivery callback, after it returns): a delivery
    // larger than the client's Maximum Packet Size can never reach it and is dead-lettered; an
    // auto-mode QoS 0 delivery is done once sent.
    if (!sent || !consumer.manual) {
      queueMicrotask(() => {
        this.settle(consumer, out.delivery, sent ? 'accepted' : 'rejected')
        // A manual consumer's window gets the credit back with the settlement.
        if (!consumer.manual) this.grant(consumer, 1)
      })
    }
  }

  /**
   * The target settled a queue delivery: auto mode settles it in the queue with that outcome;
   * manual mode only frees the window (`$ack`/`$nack`/`$reject` settle it in the queue).
   */
  settled(out: QueueOutgoing, outcome: QueueOutcome): void {
    const consumer = out.consumer
    if (consumer.manual) return
    // Also after the consumer left: a stored session resends its window on reconnect.
    this.settle(consumer, out.delivery, outcome)
    this.grant(consumer, 1)
  }

  /** Removes a consumer: what never went out is released, what went out returns after the visibility timeout. */
  detach(consumer: QueueConsumer): void {
    if (!consumer.attached) return
    consumer.attached = false
    this.consumers.delete(consumer.id)
    const waiting = consumer.waiting
    consumer.waiting = undefined
    try {
      this.port.detach(consumer.id)
    } catch (err) {
      this.refused(err, consumer.session, consumer.queue, 'queue consumer detach failed')
    }
    // Released once the consumer is gone from the engine, so they go to the other members, not back to it.
    if (waiting !== undefined) for (const out of waiting) this.settle(consumer, out.delivery, 'released')
  }

  private deliver(delivery: QueuePortDelivery): void {
    const consumer = this.consumers.get(delivery.consumerId)
    // The engine hands deliveries to attached consumers only; ours are detached there first.
    if (consumer === undefined) return
    const out = new QueueOutgoing(consumer, delivery)
    if (consumer.waiting === undefined && consumer.session.roomFor(consumer.qos)) this.send(out)
    else (consumer.waiting ??= new Fifo()).push(out)
  }

  /** `$queue/<name>/$ack|$nack|$reject` with `message-id`, `group-id` (default `default`) and `reason`. */
  private settlement(s: Session | null, message: Message, outcome: QueueOutcome): PublishResult {
    const queue = message.topic.slice(QUEUE_PREFIX.length, message.topic.lastIndexOf('/'))
    const props = message.properties.userProperties
    const messageId = property(props, Property.MessageId)
    const group = property(props, Property.GroupId) ?? DEFAULT_GROUP
    // `<queue>:` at its start, checked without building that string per settlement.
    if (messageId === undefined || messageId.charCodeAt(queue.length) !== 0x3a || !messageId.startsWith(queue)) {
      this.logger.warn(
        { clientId: s?.clientId, code: BrokerErrorCode.QueueSettlement, topic: message.topic, messageId },
        messageId === undefined ? 'queue settlement without message-id' : 'queue settlement names a message of another queue',
      )
      return { reason: Refusal.PayloadInvalid }
    }
    let durable: Promise<void>
    try {
      durable = this.port.settleMessage(messageId, group, outcome, property(props, Property.Reason))
    } catch (err) {
      return { reason: this.refused(err, s, message.topic, 'queue settlement refused') }
    }
    return { reason: 'accepted', durable }
  }

  private feedOf(s: Session): SessionConsumers {
    if (s.feed instanceof SessionConsumers) return s.feed
    const feed = new SessionConsumers(s, this)
    s.feed = feed
    return feed
  }

  private grant(consumer: QueueConsumer, credit: number): void {
    if (!consumer.attached) return
    try {
      this.port.grant(consumer.id, credit)
    } catch (err) {
      this.refused(err, consumer.session, consumer.queue, 'queue credit refused')
    }
  }

  /** By delivery id while the consumer is attached, by message id after it left (the entry is still pending). */
  private settle(consumer: QueueConsumer, delivery: QueuePortDelivery, outcome: QueueOutcome): void {
    let durable: Promise<void>
    try {
      durable = consumer.attached
        ? this.port.settle(consumer.id, delivery.deliveryId, outcome)
        : this.port.settleMessage(delivery.messageId, delivery.group, outcome)
    } catch (err) {
      // Typically the visibility timeout took it back first: it was delivered again elsewhere.
      const r = portRefusal(err)
      if (r === undefined) throw err
      this.logger.debug({ clientId: consumer.session.clientId, code: r.code, messageId: delivery.messageId, outcome }, 'queue delivery no longer held')
      return
    }
    durable.catch((err: unknown) => this.commitFailed(err, consumer))
  }

  private commitFailed(err: unknown, consumer: QueueConsumer): void {
    const r = portRefusal(err)
    if (r !== undefined && r.reason !== Refusal.ServerUnavailable) {
      this.logger.debug({ clientId: consumer.session.clientId, code: r.code }, 'queue delivery no longer held')
      return
    }
    this.logger.error({ err, clientId: consumer.session.clientId, queue: consumer.queue }, 'queue settlement not stored')
  }

  private refusedSubscription(s: Session, filter: string, message: string): Refusal {
    this.logger.warn({ clientId: s.clientId, code: BrokerErrorCode.QueueSubscription, filter }, `queue subscription refused: ${message}`)
    return Refusal.Refused
  }

  /** Logs a refusal once, with the client id; the reason the client gets. Anything else is a bug and is thrown. */
  private refused(err: unknown, s: Session | null, topic: string, what: string): Refusal {
    const r = portRefusal(err)
    if (r === undefined) throw err
    this.logger.warn({ clientId: s?.clientId, code: r.code, topic, err: r.message }, what)
    return r.reason
  }
}
