import rhea from 'rhea'
import type { Delivery as AmqpDelivery, Message as AmqpMessage, Receiver } from 'rhea'
import type { AmqpError } from './conditions.js'
import { encodingProblem } from './encoding-guard.js'
import { readFramesChecked, UndecodableFrame } from './frame-reader.js'
import type { TransportInternals } from './frame-reader.js'
import { decodeMessage } from './message-decoder.js'
import { readTransferFrame } from './transfer-reader.js'
import type { TransferFrame, TransferPerformative } from './transfer-reader.js'

/** [AMQP 2.7.3] rcv-settle-mode second: we settle only after the peer settled. */
const RCV_SECOND = 1

/** The parts of rhea's incoming session state a direct receive keeps, absent from its typings. */
interface IncomingInternals {
  next_transfer_id: number
  next_delivery_id: number | undefined
  deliveries: { push(delivery: ReceivedDelivery): void }
  update(delivery: ReceivedDelivery, settled: boolean, state: unknown): void
}

interface ReceiverInternals {
  credit: number
  delivery_count: number
  readonly _incomplete?: { readonly format?: number; readonly frames: readonly (Buffer | undefined)[] }
  readonly local: { readonly attach: { readonly rcv_settle_mode?: number } }
  is_remote_open(): boolean
}

export interface SessionWithTransfers {
  readonly incoming: IncomingInternals
  readonly remote: { readonly handles: Record<number, unknown> }
  on_transfer(frame: { readonly performative: TransferPerformative; readonly payload?: Buffer | undefined }): void
}

/** rhea's outcome constructors, absent from its typings. */
const outcomes = rhea.message as unknown as { accepted(): Described; rejected(fields: { error: AmqpError }): Described }
interface Described {
  described(): unknown
}

/** One accepted outcome, shared by every disposition that carries it (it is never changed). */
const ACCEPTED = outcomes.accepted().described()

/**
 * rhea's delivery record for an incoming transfer, as its session reads it: our `update` queues
 * the DISPOSITION (rhea batches consecutive accepts into ranges), a settled one is dropped from
 * the session window, a peer's DISPOSITION marks it remotely settled. A class, where rhea builds
 * an object with five closures per delivery.
 */
class ReceivedDelivery {
  readonly format = 0
  settled = false
  state: unknown = undefined

  constructor(
    readonly id: number,
    readonly tag: Buffer | undefined,
    readonly link: Receiver,
    public remote_settled: boolean,
    public remote_state: unknown,
    private readonly incoming: IncomingInternals,
  ) {}

  update(settled?: boolean, state?: unknown): void {
    const receiver = this.link as unknown as ReceiverInternals
    this.incoming.update(this, settled ?? receiver.local.attach.rcv_settle_mode !== RCV_SECOND, state)
  }

  accept(): void {
    this.update(undefined, ACCEPTED)
  }

  reject(error: AmqpError): void {
    this.update(undefined, outcomes.rejected({ error }).described())
  }
}

export type OnMessage = (receiver: Receiver, message: AmqpMessage, delivery: AmqpDelivery) => void

/**
 * Takes over `session`'s TRANSFER handling for the common case, a whole message in one frame
 * that `decodeMessage` reads: the delivery is counted as rhea's `Incoming.on_transfer` counts it
 * (transfer and delivery ids, session window, link credit and delivery count) and handed to
 * `onMessage` without rhea's generic decoder and event dispatch. Multi-frame messages, other
 * message formats, bodies `decodeMessage` leaves alone and out-of-sequence frames go to rhea's
 * own handler, which reports the errors.
 */
export function receiveDirectly(session: SessionWithTransfers, onMessage: OnMessage): void {
  const rheaTransfer = session.on_transfer
  session.on_transfer = function (frame) {
    const p = frame.performative
    const receiver = this.remote.handles[p.handle] as (Receiver & ReceiverInternals) | undefined
    const incoming = this.incoming
    const id = p.delivery_id
    const payload = frame.payload
    const direct =
      receiver !== undefined &&
      receiver.is_receiver() &&
      receiver._incomplete === undefined &&
      p.more !== true &&
      p.message_format === 0 &&
      id !== undefined &&
      (incoming.next_delivery_id === undefined || incoming.next_delivery_id === id) &&
      payload !== undefined &&
      receiver.is_remote_open()
    const message = direct ? decodeMessage(payload) : undefined
    if (message === undefined || receiver === undefined || id === undefined) {
      if (receiver !== undefined) checkRheaDecodes(receiver, p, payload)
      rheaTransfer.call(this, frame)
      return
    }
    incoming.next_transfer_id++
    const delivery = new ReceivedDelivery(id, p.delivery_tag, receiver, p.settled === true, p.state, incoming)
    incoming.deliveries.push(delivery)
    incoming.next_delivery_id = id + 1
    if (receiver.credit > 0) receiver.credit--
    receiver.delivery_count++
    onMessage(receiver, message, delivery as unknown as AmqpDelivery)
  }
}

/**
 * rhea decodes a message of format 0 once its last frame came (`Incoming.on_transfer`): its bytes
 * must pass `encodingProblem` first, or `UndecodableFrame` ends the connection.
 */
function checkRheaDecodes(receiver: ReceiverInternals, p: TransferPerformative, payload: Buffer | undefined): void {
  const incomplete = receiver._incomplete
  if (p.more === true || (incomplete?.format ?? p.message_format) !== 0 || !receiver.is_remote_open()) return
  const parts = [...(incomplete?.frames ?? []), payload].filter((part): part is Buffer => part !== undefined)
  const message = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts)
  const problem = encodingProblem(message, 0, message.length, false)
  if (problem !== undefined) throw new UndecodableFrame(`undecodable message: ${problem}`)
}

/** rhea's AMQP frame reader of a connection, with the session handler it dispatches to. */
export interface AmqpTransportInternals extends TransportInternals {
  readonly handler: { on_transfer(frame: TransferFrame): void }
}

/**
 * Takes over the connection's frame reading for TRANSFER frames that `readTransferFrame` reads:
 * they reach the session without rhea's generic decoding of the performative. Every other frame
 * goes to rhea's reader one frame at a time, as it came, once `readFramesChecked` passed it.
 */
export function readTransfersDirectly(transport: AmqpTransportInternals): void {
  readFramesChecked(transport, (buffer, offset, size) => {
    const transfer = readTransferFrame(buffer, offset, size)
    if (transfer === undefined) return false
    transport.handler.on_transfer(transfer)
    return true
  })
}
