import { namesDelivery, nextDeliveryId, shortId } from './delivery-ids.js'
import type { Outgoing } from './outgoing.js'

/**
 * A session's unsettled QoS 1/2 deliveries and the delivery ids it hands out (delivery-ids.ts).
 * Entries are keyed by short id and kept in send order: an entry resent, or received, moves to
 * the end, so the retry scan stops at the first entry not yet due. Created on a session's first
 * QoS 1/2 delivery and kept: the next id continues from the last one.
 */
export class DeliveryWindow {
  private readonly byShortId = new Map<number, Outgoing>()
  private lastId = 0

  get size(): number {
    return this.byShortId.size
  }

  /** The unsettled deliveries by short id, oldest send first. */
  get entries(): ReadonlyMap<number, Outgoing> {
    return this.byShortId
  }

  /** [MQTT-2.2.1-3] Gives `out` the next delivery id whose short id no unsettled delivery uses. */
  assignId(out: Outgoing): void {
    this.lastId = nextDeliveryId(this.lastId, this.byShortId)
    out.deliveryId = this.lastId
  }

  add(out: Outgoing): void {
    this.byShortId.set(shortId(out.deliveryId), out)
  }

  /** An entry carried over (Storage, another node) with its id; new ids continue after it. */
  restore(out: Outgoing): void {
    this.add(out)
    this.lastId = out.deliveryId
  }

  /** The unsettled delivery `id` names: its delivery id, or its short id. */
  find(id: number): Outgoing | undefined {
    const out = this.byShortId.get(shortId(id))
    return out !== undefined && namesDelivery(id, out.deliveryId) ? out : undefined
  }

  remove(out: Outgoing): void {
    this.byShortId.delete(shortId(out.deliveryId))
  }

  /** Moves `out` to the end of the send order: it went out (or was received) just now. */
  touch(out: Outgoing): void {
    const short = shortId(out.deliveryId)
    this.byShortId.delete(short)
    this.byShortId.set(short, out)
  }
}
