/**
 * Every call from the AMQP adapter into BrokerCore, and every mapping of the core's refusals onto
 * AMQP conditions, lives in this module: the rest of the package speaks AMQP (conditions,
 * outcomes) and `CoreSession`.
 */
import { Refusal, isRefusal } from '@fluxmq/core'
import type { BrokerCore, ClientLink, Delivery, Message, Outcome, SessionHandle, SubscriptionOptions } from '@fluxmq/core'
import { Condition } from './conditions.js'
import type { AmqpError } from './conditions.js'
import type { Address } from './address.js'

/** AMQP 1.0 terminal delivery states (§3.4) are the core's settlement outcomes. */
export type { Outcome }

/** What the adapter's link offers the core: the AMQP side of a ClientLink. */
export interface LinkEnd {
  hasCredit(): boolean
  /** False when the delivery cannot be sent to this link at all (larger than its max-message-size). */
  deliver(delivery: Delivery): boolean
  /** The core ends the link (taken over by a link of the same name, shutdown, admin). */
  closeByCore(error: AmqpError): void
}

/** The result of a publish as an AMQP sender's peer sees it. */
export interface PublishOutcome {
  /** Set when the broker refused the message: the transfer is rejected with it. */
  readonly refused?: AmqpError
  /** Accept only once it resolves (storage, queue append, other nodes). */
  readonly durable?: Promise<void>
  /** The broker asks this publisher to slow down until it resolves. */
  readonly backpressure?: Promise<void>
}

export interface OpenRequest {
  readonly clientId: string
  readonly username?: string
  readonly remoteAddress?: string
  /** Unsettled deliveries the core may have outstanding on the link. */
  readonly window: number
}

/** The AMQP condition for a refusal of the core. */
export function conditionFor(reason: Refusal, description: string): AmqpError {
  switch (reason) {
    case Refusal.NotAuthorized:
    case Refusal.BadCredentials:
    case Refusal.BadAuthenticationMethod:
      return { condition: Condition.UnauthorizedAccess, description }
    case Refusal.QuotaExceeded:
      return { condition: Condition.ResourceLimitExceeded, description }
    case Refusal.TopicInvalid:
    case Refusal.PayloadInvalid:
      return { condition: Condition.InvalidField, description }
    case Refusal.SessionTakenOver:
      return { condition: Condition.LinkStolen, description }
    case Refusal.ServerShuttingDown:
    case Refusal.AdministrativeAction:
      return { condition: Condition.ConnectionForced, description }
    default:
      return { condition: Condition.InternalError, description }
  }
}

/** The core's side of a ClientLink, answering for an AMQP link. */
class LinkAdapter implements ClientLink {
  constructor(private readonly end: LinkEnd) {}

  hasCredit(): boolean {
    return this.end.hasCredit()
  }

  deliver(delivery: Delivery): boolean {
    return this.end.deliver(delivery)
  }

  close(reason: Refusal, reasonString?: string): void {
    this.end.closeByCore(conditionFor(reason, reasonString ?? 'closed by the broker'))
  }
}

/**
 * One AMQP link's session in the core (clean, expiry 0: it lives as long as the link). Opened with
 * `CoreSession.open`; every method is safe to call after the link closed (the core ignores a
 * stale handle).
 */
export class CoreSession {
  private constructor(
    private readonly broker: BrokerCore,
    readonly handle: SessionHandle,
  ) {}

  static async open(broker: BrokerCore, request: OpenRequest, end: LinkEnd): Promise<CoreSession | AmqpError> {
    const result = await broker.connect(
      {
        clientId: request.clientId,
        username: request.username,
        remoteAddress: request.remoteAddress,
        protocol: 'amqp',
        cleanStart: true,
        sessionExpiryInterval: 0,
        receiveMaximum: request.window,
      },
      new LinkAdapter(end),
    )
    if (!result.ok) return conditionFor(result.reason, result.reasonString ?? 'link refused by the broker')
    broker.activate(result.session)
    return new CoreSession(broker, result.session)
  }

  get clientId(): string {
    return this.handle.clientId
  }

  publish(message: Message): PublishOutcome {
    const r = this.broker.publish(this.handle, message)
    if (isRefusal(r.reason)) return { refused: conditionFor(r.reason, `message to ${message.topic} refused`) }
    return r
  }

  /**
   * A receiver's source: a topic filter (QoS 1 when the peer settles, QoS 0 for a pre-settled
   * link) or a queue consumer. Undefined when granted, else the condition the link detaches with.
   */
  subscribe(address: Address, settled: boolean, properties: readonly (readonly [string, string])[]): AmqpError | undefined {
    const qos = settled ? 0 : 1
    // A queue consumer settles by disposition, whose outcome the core hands to the queue (auto
    // mode: the delivery's own settlement is the queue settlement).
    const request: SubscriptionOptions = {
      filter: address.name,
      qos,
      noLocal: false,
      retainAsPublished: false,
      retainHandling: 0,
      ...(properties.length === 0 ? {} : { userProperties: properties }),
    }
    const result = this.broker.subscribe(this.handle, [request])
    const code = result.codes[0] ?? Refusal.Unspecified
    if (typeof code === 'string') return conditionFor(code, `subscription to ${address.name} refused`)
    this.broker.deliverRetained(this.handle, [request], result)
    return undefined
  }

  /**
   * The peer settled the unsettled delivery the core sent with `deliveryId`: a topic delivery is
   * done whatever the outcome; a queue delivery is settled in its queue with that outcome
   * (accepted = ack, released = back without counting, modified = nack, rejected = dead-letter).
   */
  settle(deliveryId: number, outcome: Outcome): void {
    this.broker.settle(this.handle, deliveryId, outcome)
  }

  /** The link has credit again: queued deliveries go out. */
  creditAvailable(): void {
    this.broker.creditAvailable(this.handle)
  }

  /** The link is gone; an AMQP link has no will. */
  close(): void {
    this.broker.disconnect(this.handle, { publishWill: false })
  }
}
