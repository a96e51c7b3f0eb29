import type { Delivery, Message, QoS } from './message.js'
import type { Outcome } from './settlement.js'
import type { InflightRecord } from './storage.js'

/**
 * One message on its way to one session: the Delivery handed to the ClientLink and, for QoS 1/2,
 * the unsettled entry until settled. One object per receiving session and message; the core
 * updates `dup`/`received` in place when it resends, so a link must not keep it after deliver().
 */
export class Outgoing implements Delivery {
  deliveryId = 0
  dup = false
  received = false
  /** When the delivery (or its second phase) last went out; drives the retry interval. */
  sentAt = 0
  /** False for an unsettled entry taken from the offline queue while the client was away. */
  sent = false

  constructor(
    readonly message: Message,
    readonly qos: QoS,
    readonly retain: boolean,
    readonly subscriptionIds: readonly number[] | undefined,
  ) {}

  /**
   * Whether the message is kept durable elsewhere (a queue's log): such a delivery is never
   * written to Storage with the session, since its owner delivers it again after a restart.
   */
  get external(): boolean {
    return false
  }

  /** The target settled it; a topic delivery is simply done (see settlement.ts). */
  settled(_outcome: Outcome): void {}

  static fromRecord(record: InflightRecord): Outgoing {
    const out = new Outgoing(record.message, record.qos, record.retain, record.subscriptionIds)
    out.deliveryId = record.deliveryId
    out.received = record.state === 'received'
    out.sent = true
    return out
  }

  toRecord(): InflightRecord {
    return {
      deliveryId: this.deliveryId,
      message: this.message,
      qos: this.qos as 1 | 2,
      retain: this.retain,
      subscriptionIds: this.subscriptionIds,
      state: this.received ? 'received' : 'delivered',
    }
  }
}
