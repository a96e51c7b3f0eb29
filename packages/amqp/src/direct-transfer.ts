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
class DirectDelivery {
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
