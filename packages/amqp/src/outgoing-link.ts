import type { Delivery as AmqpDelivery, Sender } from 'rhea'
import type { Delivery } from '@fluxmq/core'
import type { Address } from './address.js'
import type { Outcome } from './core-link.js'
import { sendDirect } from './direct-transfer.js'
import type { LinkHost } from './link-host.js'
import { SessionLink } from './session-link.js'
import { encodedMessage } from './wire-forms.js'

/** [AMQP 2.7.3] snd-settle-mode: the peer receiver asked for every transfer pre-settled. */
const SND_SETTLED = 1

/** rhea internals the credit accounting reads, absent from its typings. */
interface SenderInternals {
  readonly credit: number
  readonly session: { readonly outgoing: { readonly next_pending_delivery: number; available(): number } }
}

/**
 * A peer's receiver: a subscription (topic filter) or a queue consumer in the core, in a session
 * of its own. The core delivers while `hasCredit()` (link credit not yet used, room in rhea's
 * session window and in the socket's write buffer); dispositions settle the core's deliveries.
 */
export class OutgoingLink extends SessionLink {
  readonly direction = 'out'
  /** Transfer id → the core's delivery id, for the unsettled transfers. */
  private readonly unsettled = new Map<number, number>()
  /** Ids of transfers handed to rhea that it has not written yet (see `sendDirect`): they use credit rhea has not counted. */
  private readonly queued: number[] = []
  private queuedHead = 0
  /** hasCredit() answered false: the core waits for creditAvailable. */
  private starved = true
  /** Our ATTACH is written: rhea writes transfers before attaches in one pass, so none may go before. */
  private attached = false

  constructor(
    host: LinkHost,
    private readonly sender: Sender,
    private readonly source: Address,
    /** Link properties of the attach (consumer-group, cursor for queues). */
    private readonly properties: readonly (readonly [string, string])[],
  ) {
    super(host, sender)
  }

  get address(): string {
    return this.source.name
  }

  private get presettled(): boolean {
    return this.sender.snd_settle_mode === SND_SETTLED
  }

  /** Claims the core session and subscribes; a refusal detaches the link with its condition. */
  async open(): Promise<void> {
    const session = await this.claimSession()
    if (session === undefined) return
    const refused = session.subscribe(this.source, this.presettled, this.properties)
    if (refused !== undefined) {
      this.host.log.warn({ clientId: session.clientId, address: this.address, condition: refused.condition }, `AMQP receiver refused: ${refused.description}`)
      this.detach(refused)
      return
    }
    this.answer()
    // rhea writes the ATTACH on its next tick; deliveries (retained, queued) start after it.
    process.nextTick(() => {
      this.attached = true
      this.creditMayBeBack()
    })
    this.host.log.debug({ clientId: session.clientId, address: this.address }, 'AMQP receiver attached')
  }

  hasCredit(): boolean {
    if (this.closed) return true
    if (!this.attached) return false
    const sender = this.sender as unknown as SenderInternals
    // rhea counts credit when it writes a transfer (next tick); until then ours are still queued.
    const written = sender.session.outgoing.next_pending_delivery
    while (this.queuedHead < this.queued.length && (this.queued[this.queuedHead] as number) < written) this.queuedHead++
    if (this.queuedHead === this.queued.length) {
      this.queued.length = 0
      this.queuedHead = 0
    }
    const waiting = this.queued.length - this.queuedHead
    const room = sender.credit > waiting && sender.session.outgoing.available() > 0 && this.host.writable()
    if (!room) this.starved = true
    return room
  }

  deliver(delivery: Delivery): boolean {
    if (this.closed) return true
    const now = this.host.now()
    const encoded = encodedMessage(delivery, now)
    const limit = this.sender.max_message_size
    // [AMQP 2.7.3] max-message-size of the receiving peer: a larger message cannot be sent to it.
    if (typeof limit === 'number' && limit > 0 && encoded.length > limit) return false
    // Mixed mode: an at-most-once delivery goes pre-settled.
    const settled = this.presettled || (delivery.qos === 0 && this.sender.snd_settle_mode !== 0)
    const transfer = sendDirect(this.sender, encoded, settled, this.host.writeFrame) ?? this.sendThroughRhea(encoded, settled)
    if (!settled && delivery.qos > 0) this.unsettled.set(transfer.id, delivery.deliveryId)
    return true
  }

  /** A delivery rhea writes on its next pass (and splits into frames when it must). */
  private sendThroughRhea(encoded: Buffer, settled: boolean): AmqpDelivery {
    const transfer = this.sender.send(encoded, undefined, 0)
    this.queued.push(transfer.id)
    if (settled) (transfer as { settled: boolean }).settled = true
    return transfer
  }

  /** The peer's disposition (or its settlement without an outcome: accepted by default). */
  onOutcome(transfer: AmqpDelivery, outcome: Outcome): void {
    const deliveryId = this.unsettled.get(transfer.id)
    if (!transfer.settled) transfer.update(true)
    if (deliveryId === undefined) return
    this.unsettled.delete(transfer.id)
    this.session?.settle(deliveryId, outcome)
    this.creditMayBeBack()
  }

  /** Credit, room in the session window or in the socket may be back: the core sends what waits. */
  creditMayBeBack(): void {
    if (!this.starved || this.closed || this.session === undefined) return
    this.starved = false
    this.session.creditAvailable()
  }

  /** [AMQP 2.6.7] The peer asked to use up its credit: what waits goes out, then the rest of the credit is spent. */
  drain(): void {
    this.starved = true
    this.creditMayBeBack()
    this.sender.set_drained(true)
  }

  /** The link's unsettled deliveries go with it (its session is clean). */
  override ended(): void {
    this.unsettled.clear()
    super.ended()
  }
}
