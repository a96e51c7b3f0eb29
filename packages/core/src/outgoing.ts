import type { Delivery, Message, QoS } from './message.js'
import type { InflightRecord } from './storage.js'

/**
 * One message on its way to one session: the Delivery handed to the ClientLink and, for QoS 1/2,
 * the inflight entry until acknowledged. One object per receiving session and message; the core
 * updates `dup`/`packetId` in place when it resends, so a link must not keep it after deliver().
 */
export class Outgoing implements Delivery {
  packetId = 0
  dup = false
  state: 'publish' | 'release' = 'publish'
  /** When the PUBLISH (or PUBREL) last went out; drives the retry interval. */
  sentAt = 0
  /** False for an inflight entry taken from the offline queue while the client was away. */
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

  /** The client acknowledged it (PUBACK). */
  acknowledged(): void {}

  static fromRecord(record: InflightRecord): Outgoing {
    const out = new Outgoing(record.message, record.qos, record.retain, record.subscriptionIds)
    out.packetId = record.packetId
    out.state = record.state
    out.sent = true
    return out
  }

  toRecord(): InflightRecord {
    return {
      packetId: this.packetId,
      message: this.message,
      qos: this.qos as 1 | 2,
      retain: this.retain,
      subscriptionIds: this.subscriptionIds,
      state: this.state,
    }
  }
}
