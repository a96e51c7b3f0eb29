import type { Delivery as AmqpDelivery, Message as AmqpMessage, Receiver } from 'rhea'
import type { Delivery, MemoryWaiter } from '@fluxmq/core'
import { isAddressError, targetAddress } from './address.js'
import type { Address } from './address.js'
import { Condition } from './conditions.js'
import type { AmqpError } from './conditions.js'
import type { PublishOutcome } from './core-link.js'
import { AmqpErrorCode } from './errors.js'
import type { LinkHost, OversizedMessage } from './link-host.js'
import { toCoreMessage } from './message-map.js'
import { SessionLink } from './session-link.js'

/** rhea's delivery being assembled from several transfer frames, absent from its typings. */
interface ReceiverInternals {
  readonly _incomplete?: { frames: Buffer[] }
}

const PAUSED_FOR_BACKPRESSURE = 1
const PAUSED_FOR_MEMORY = 2

/**
 * A peer's sender: its transfers are publishes to the target address (or, on an anonymous link,
 * to each message's `to`). Pre-settled transfers are QoS 0; unsettled ones QoS 1, accepted once
 * the core routed them and their `durable` promise resolved, rejected with the condition when the
 * broker refused them. The peer has `creditWindow` credit; each transfer's credit comes back once
 * the broker absorbed it, and not while the broker asks publishers to wait (a full subscriber
 * queue, limits.max_buffered_bytes): then the peer simply runs out of credit.
 */
export class IncomingLink extends SessionLink implements MemoryWaiter, OversizedMessage {
  readonly direction = 'in'
  /** Credit the peer holds: what we granted and it has not used. */
  private credit = 0
  /** Credit earned back while paused, granted when the pause ends. */
  private owed = 0
  private pausedFor = 0
  private congestions = 0

  constructor(
    host: LinkHost,
    private readonly receiver: Receiver,
    /** Undefined for an anonymous link: every message names its topic in `to`. */
    private readonly target: Address | undefined,
  ) {
    super(host, receiver)
  }

  get address(): string {
    return this.target?.name ?? ''
  }

  /** Claims the core session, then gives the peer its credit. */
  async open(): Promise<void> {
    const session = await this.claimSession()
    if (session === undefined) return
    this.answer()
    // Written after our ATTACH, in the same pass.
    this.grant(this.host.creditWindow)
    this.host.log.debug({ clientId: session.clientId, address: this.address }, 'AMQP sender attached')
  }

  onMessage(message: AmqpMessage, delivery: AmqpDelivery): void {
    if (this.closed) return
    const session = this.session
    // [AMQP 2.6.7] A sender may not send beyond its link credit (none at all before we attached).
    if (this.credit === 0 || session === undefined) {
      this.host.log.warn({ clientId: this.clientId, code: AmqpErrorCode.Protocol }, 'transfer without link credit')
      this.detach({ condition: Condition.TransferLimitExceeded, description: 'transfer without link credit' })
      return
    }
    this.credit--
    const settled = delivery.remote_settled
    // rhea keeps a delivery in the session's window until it is settled here too; a pre-settled
    // one needs no disposition, only that (or the window closes after rhea's 2048 deliveries).
    if (settled) delivery.update(true)
    const body = message.body as { content?: unknown } | undefined
    const size = Buffer.isBuffer(body?.content) ? body.content.length : 0
    if (size > this.host.maxMessageSize) {
      this.tooLarge(size)
      return
    }
    const topic = this.topicOf(message)
    if (isAddressError(topic)) {
      this.refuse(delivery, settled, topic)
      return
    }
    const now = this.host.now()
    const result = session.publish(toCoreMessage(message, topic.name, settled ? 0 : 1, session.clientId, now))
    this.absorbed(delivery, settled, result)
  }

  /**
   * [AMQP 2.7.3] A message above the max-message-size we advertised detaches the link with
   * amqp:link:message-size-exceeded once its frames add up to more, before it is all buffered.
   */
  checkMessageSize(): void {
    const incomplete = (this.receiver as unknown as ReceiverInternals)._incomplete
    if (incomplete === undefined || this.closed) return
    let size = 0
    for (const frame of incomplete.frames) size += frame.length
    if (size <= this.host.maxMessageSize) return
    this.tooLarge(size)
    incomplete.frames.length = 0
    this.host.oversizedMessage(this)
  }

  /** Drops what arrived of the oversized message since; false once it is complete (nothing left to drop). */
  discardOversized(): boolean {
    const incomplete = (this.receiver as unknown as ReceiverInternals)._incomplete
    if (incomplete === undefined) return false
    incomplete.frames.length = 0
    return true
  }

  private tooLarge(size: number): void {
    const description = `message of ${size} bytes or more is above the max-message-size ${this.host.maxMessageSize}`
    this.host.log.warn({ clientId: this.clientId, condition: Condition.MessageSizeExceeded }, description)
    this.detach({ condition: Condition.MessageSizeExceeded, description })
  }

  private topicOf(message: AmqpMessage): Address | AmqpError {
    if (this.target !== undefined) return this.target
    const to = message.to as unknown
    if (typeof to !== 'string') return { condition: Condition.InvalidField, description: 'a message on an anonymous link needs a to address' }
    return targetAddress(to)
  }

  private absorbed(delivery: AmqpDelivery, settled: boolean, result: PublishOutcome): void {
    if (result.refused !== undefined) {
      this.refuse(delivery, settled, result.refused)
      return
    }
    if (result.backpressure !== undefined) {
      this.congestions++
      this.pausedFor |= PAUSED_FOR_BACKPRESSURE
      void result.backpressure.then(() => {
        if (--this.congestions === 0) this.unpause(PAUSED_FOR_BACKPRESSURE)
      })
    }
    if ((this.pausedFor & PAUSED_FOR_MEMORY) === 0 && this.host.overMemory(this)) this.pausedFor |= PAUSED_FOR_MEMORY
    const durable = result.durable
    if (durable === undefined) {
      if (!settled) delivery.accept()
      this.replenish()
      return
    }
    durable.then(
      () => {
        if (!settled && !this.closed) delivery.accept()
        this.replenish()
      },
      (err: unknown) => {
        this.host.log.error({ err, clientId: this.clientId }, 'message not stored')
        if (!settled && !this.closed) delivery.reject({ condition: Condition.InternalError, description: 'the message could not be stored' })
        this.replenish()
      },
    )
  }

  private refuse(delivery: AmqpDelivery, settled: boolean, error: AmqpError): void {
    this.host.log.warn({ clientId: this.clientId, condition: error.condition }, `message refused: ${error.description}`)
    if (!settled) delivery.reject(error)
    // A denied address stays denied: the link goes, as a denied attach would.
    if (error.condition === Condition.UnauthorizedAccess && this.target !== undefined) {
      this.detach(error)
      return
    }
    this.replenish()
  }

  private replenish(): void {
    if (this.closed) return
    if (this.pausedFor !== 0) this.owed++
    else this.grant(1)
  }

  private grant(credit: number): void {
    this.credit += credit
    this.receiver.add_credit(credit)
  }

  private unpause(reason: number): void {
    this.pausedFor &= ~reason
    if (this.pausedFor !== 0 || this.owed === 0 || this.closed) return
    const owed = this.owed
    this.owed = 0
    this.grant(owed)
  }

  memoryAvailable(): void {
    this.unpause(PAUSED_FOR_MEMORY)
  }

  // LinkEnd: the core never delivers to a sender's session (it subscribes to nothing).
  hasCredit(): boolean {
    return true
  }

  deliver(_delivery: Delivery): boolean {
    return true
  }
}
