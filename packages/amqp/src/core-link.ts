/**
 * Every call from the AMQP adapter into BrokerCore, and every use of the core's ReasonCode, lives
 * in this module: the rest of the package speaks AMQP (conditions, outcomes) and `CoreSession`.
 * When the core's API changes (neutral settlement, neutral refusals), this file is what follows.
 */
import { ReasonCode } from '@fluxmq/core'
import type { BrokerCore, ClientLink, Delivery, Message, SessionHandle, SubscriptionOptions } from '@fluxmq/core'
import { Condition } from './conditions.js'
import type { AmqpError } from './conditions.js'
import type { Address } from './address.js'

/** AMQP 1.0 terminal delivery states (§3.4) as a receiver settles a delivery. */
export type Outcome = 'accepted' | 'released' | 'modified' | 'rejected'

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

/** Queue deliveries carry these user properties (SPEC §4); settlement names the message by them. */
const QUEUE_PROPERTY = 'queue'
const MESSAGE_ID_PROPERTY = 'message-id'
const GROUP_ID_PROPERTY = 'group-id'
/** Every AMQP queue consumer settles explicitly, by disposition. */
const ACK_MODE: readonly [string, string] = ['ack-mode', 'manual']

/**
 * Disposition outcomes on queue deliveries as the core's settlement topics express them today
 * (SPEC §5: accepted = ack, modified(delivery-failed) = nack, rejected = reject). `released` =
 * "nack without counting" has no settlement topic yet: it goes as a nack until the core offers
 * settlement by outcome.
 */
const EMPTY = Buffer.alloc(0)
const SETTLEMENT_TOPIC: Readonly<Record<Outcome, string>> = { accepted: '$ack', released: '$nack', modified: '$nack', rejected: '$reject' }

/** The AMQP condition for a refusal the core answered with a reason code. */
export function conditionFor(reason: ReasonCode, description: string): AmqpError {
  switch (reason) {
    case ReasonCode.NotAuthorized:
    case ReasonCode.BadUserNameOrPassword:
    case ReasonCode.Banned:
      return { condition: Condition.UnauthorizedAccess, description }
    case ReasonCode.QuotaExceeded:
    case ReasonCode.ServerBusy:
    case ReasonCode.MessageRateTooHigh:
      return { condition: Condition.ResourceLimitExceeded, description }
    case ReasonCode.TopicNameInvalid:
    case ReasonCode.TopicFilterInvalid:
    case ReasonCode.PayloadFormatInvalid:
      return { condition: Condition.InvalidField, description }
    case ReasonCode.PacketTooLarge:
      return { condition: Condition.MessageSizeExceeded, description }
    case ReasonCode.SessionTakenOver:
      return { condition: Condition.LinkStolen, description }
    case ReasonCode.ServerShuttingDown:
    case ReasonCode.AdministrativeAction:
      return { condition: Condition.ConnectionForced, description }
    default:
      return { condition: Condition.InternalError, description }
  }
}

function failed(reason: ReasonCode): boolean {
  return reason >= 0x80
}

function userProperty(message: Message, name: string): string | undefined {
  return message.properties.userProperties?.find(([key]) => key === name)?.[1]
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

  release(): void {
    // AMQP links subscribe at QoS 0 or 1 (see CoreSession.subscribe): the core has no QoS 2 delivery to release.
  }

  close(reason: ReasonCode, reasonString?: string): void {
    this.end.closeByCore(conditionFor(reason, reasonString ?? 'closed by the broker'))
  }
}

/**
 * One AMQP link's session in the core (clean, expiry 0: it lives as long as the link). Opened with
 * `CoreSession.open`; every method is safe to call after the link closed (the core ignores a
 * stale handle).
 */
export class CoreSession {
  /** Set by `subscribe` for a queue consumer: its deliveries settle by message id. */
  private queueConsumer = false

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
    if (failed(r.reason)) return { refused: conditionFor(r.reason, `message to ${message.topic} refused`) }
    return r
  }

  /**
   * A receiver's source: a topic filter (QoS 1 when the peer settles, QoS 0 for a pre-settled
   * link) or a queue consumer. Undefined when granted, else the condition the link detaches with.
   */
  subscribe(address: Address, settled: boolean, properties: readonly (readonly [string, string])[]): AmqpError | undefined {
    const qos = settled ? 0 : 1
    // Explicit settlement needs a settlement topic, which a dead-letter queue has not: there a disposition is an ack.
    const manual = address.kind === 'queue' && !settled && !address.deadLetter
    const userProperties = manual ? [...properties.filter(([name]) => name !== ACK_MODE[0]), ACK_MODE] : properties
    const request: SubscriptionOptions = {
      filter: address.name,
      qos,
      noLocal: false,
      retainAsPublished: false,
      retainHandling: 0,
      ...(userProperties.length === 0 ? {} : { userProperties }),
    }
    const result = this.broker.subscribe(this.handle, [request])
    const code = result.codes[0] ?? ReasonCode.UnspecifiedError
    if (failed(code)) return conditionFor(code, `subscription to ${address.name} refused`)
    this.queueConsumer = manual
    this.broker.deliverRetained(this.handle, [request], result)
    return undefined
  }

  /**
   * The peer settled the unsettled delivery of `message` the core sent with `packetId`. For a queue delivery the
   * result of the settlement (refused, or when it is stored); undefined for a topic delivery,
   * which is done once acknowledged whatever the outcome.
   */
  settle(message: Message, packetId: number, outcome: Outcome, now: number): PublishOutcome | undefined {
    this.broker.puback(this.handle, packetId)
    if (!this.queueConsumer) return undefined
    const queue = userProperty(message, QUEUE_PROPERTY)
    const messageId = userProperty(message, MESSAGE_ID_PROPERTY)
    if (queue === undefined || messageId === undefined) return undefined
    const userProperties: [string, string][] = [[MESSAGE_ID_PROPERTY, messageId]]
    const group = userProperty(message, GROUP_ID_PROPERTY)
    if (group !== undefined) userProperties.push([GROUP_ID_PROPERTY, group])
    return this.publish({
      topic: `$queue/${queue}/${SETTLEMENT_TOPIC[outcome]}`,
      payload: EMPTY,
      qos: 1,
      retain: false,
      properties: { userProperties },
      publishedAt: now,
    })
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
