import rhea from 'rhea'
import type { Sender } from 'rhea'
import { transferFrame } from './transfer-frame.js'

/** The parts of rhea's outgoing session state a direct transfer keeps, absent from its typings. */
interface OutgoingInternals {
  next_delivery_id: number
  next_pending_delivery: number
  next_transfer_id: number
  window: number
  deliveries: { push(delivery: DirectDelivery): void }
  transfer_window(): number
  update(delivery: DirectDelivery, settled: boolean, state: unknown): void
}

interface SenderInternals {
  credit: number
  delivery_count: number
  tag: number
  readonly local: { readonly handle: number }
  readonly connection: { readonly max_frame_size?: number; _register(): void }
  readonly session: { readonly outgoing: OutgoingInternals; readonly local: { readonly channel: number } }
}

/**
 * rhea's delivery record for an outgoing transfer, as its session reads it: a DISPOSITION finds it
 * by id, marks it remotely settled with the outcome and dispatches the outcome event with it;
 * `update` settles it on our side (and queues our DISPOSITION); once settled on both sides the
 * session drops it. A class, where rhea builds an object with a closure per delivery.
 */
export class DirectDelivery {
  readonly format = 0
  readonly sent = true
  state: unknown = undefined
  remote_state: unknown = undefined

  constructor(
    readonly id: number,
    readonly tag: number,
    readonly link: Sender,
    public settled: boolean,
    /** A pre-settled transfer is settled on both sides once written. */
    public remote_settled: boolean,
    private readonly outgoing: OutgoingInternals,
  ) {}

  update(settled: boolean, state?: unknown): void {
    this.outgoing.update(this, settled, state)
  }
}

/**
 * Writes one delivery's TRANSFER straight to the connection's socket, below rhea's session, and
 * does what rhea's `Outgoing.process` would have done for it: delivery id, transfer id, session
 * window, link credit and delivery count, the delivery record its DISPOSITION is matched with.
 * rhea's own path encodes a composite performative object and writes a frame per call; this is
 * one buffer. Undefined when rhea has to do it: deliveries of this session still wait in rhea (the
 * ids must stay in order), the peer's session window is shut, or the message needs several
 * frames. The caller has checked link credit.
 */
export function sendDirect(sender: Sender, message: Buffer, settled: boolean, write: (frame: Buffer) => void): DirectDelivery | undefined {
  const link = sender as unknown as SenderInternals
  const session = link.session
  const outgoing = session.outgoing
  if (outgoing.next_pending_delivery !== outgoing.next_delivery_id || outgoing.transfer_window() <= 0) return undefined
  const id = outgoing.next_delivery_id
  const tag = link.tag
  const frame = transferFrame({ channel: session.local.channel, handle: link.local.handle, deliveryId: id, tag, settled }, message, link.connection.max_frame_size ?? 0xffffffff)
  if (frame === undefined) return undefined
  const delivery = new DirectDelivery(id, tag, sender, settled, settled, outgoing)
  outgoing.deliveries.push(delivery)
  link.tag++
  outgoing.next_delivery_id++
  outgoing.next_pending_delivery++
  outgoing.next_transfer_id++
  outgoing.window--
  link.credit--
  link.delivery_count++
  if (Array.isArray(frame)) {
    write(frame[0])
    write(frame[1])
  } else write(frame)
  // rhea's next pass drops the settled records and writes our dispositions.
  if (settled) link.connection._register()
  return delivery
}

/** rhea's outgoing delivery records of a session, a circular buffer in id order. */
interface OutgoingDeliveries {
  get_head(): { readonly id: number } | undefined
  readonly size: number
  by_id(id: number): unknown
}

/** A DISPOSITION as rhea reads it. */
interface DispositionFrame {
  readonly performative: { readonly role: boolean; readonly first: number; readonly last?: number; readonly settled?: boolean; readonly state?: unknown }
}

/** The parts of a rhea session that `settleDirectly` takes over, absent from its typings. */
export interface SessionWithDispositions {
  readonly outgoing: { readonly deliveries: OutgoingDeliveries }
  readonly connection: { _register(): void }
  on_disposition(frame: DispositionFrame): void
}

/** rhea's outcome reader, absent from its typings: an outcome object named by its constructor. */
const unwrapOutcome = (rhea.message as unknown as { unwrap_outcome(state: unknown): { constructor: { composite_type?: string } } }).unwrap_outcome

/**
 * A peer settled `delivery` with the outcome rhea names `event` (`accepted`, `rejected`,
 * `released`, `modified`; `settled` without an outcome); `delivery.remote_state` holds it.
 */
export type OnSettled = (sender: Sender, delivery: DirectDelivery, event: string) => void

/**
 * Takes over `session`'s DISPOSITIONs that settle transfers `sendDirect` wrote. rhea marks each
 * delivery, then on its next pass builds an event context per delivery and dispatches the
 * outcome and then `settled` up link, session and connection: the largest part of rhea left on
 * the delivery path (issue 12's profile). Here `onSettled` is called once per delivery, in the
 * same order. A DISPOSITION that does not settle (a receiver in rcv-settle-mode second states
 * its outcome first), or that names a transfer rhea wrote itself, goes to rhea's own handler.
 */
export function settleDirectly(session: SessionWithDispositions, onSettled: OnSettled): void {
  const rheaDisposition = session.on_disposition
  session.on_disposition = function (frame) {
    const p = frame.performative
    const deliveries = this.outgoing.deliveries
    const head = deliveries.get_head()
    // Only the ids the session still holds: a peer's range can name up to 2^32 of them.
    const from = head === undefined ? 0 : Math.max(p.first, head.id)
    const to = head === undefined ? -1 : Math.min(p.last ?? p.first, head.id + deliveries.size - 1)
    let direct = p.role && p.settled === true
    for (let id = from; direct && id <= to; id++) direct = deliveries.by_id(id) instanceof DirectDelivery
    if (!direct) {
      rheaDisposition.call(this, frame)
      return
    }
    const state = p.state
    const remoteState = state === undefined ? undefined : unwrapOutcome(state)
    const event = remoteState?.constructor.composite_type ?? 'settled'
    for (let id = from; id <= to; id++) {
      const delivery = deliveries.by_id(id) as DirectDelivery
      if (delivery.remote_settled) continue
      delivery.remote_settled = true
      delivery.remote_state = remoteState
      onSettled(delivery.link, delivery, event)
    }
    // rhea's next pass drops the deliveries settled on both sides.
    this.connection._register()
  }
}
