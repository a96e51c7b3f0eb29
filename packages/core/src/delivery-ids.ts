/**
 * Delivery ids (see README, "Delivery ids"): 32-bit, per session, never below FIRST. Their low
 * 16 bits, the short id, are never 0 and unique among the session's unsettled deliveries, so a
 * target whose protocol numbers deliveries in 16 bits (MQTT packet identifiers) puts the short id
 * on the wire and settles by it: the short id of a delivery resent after a reconnect, a restart
 * or a move to another node is the one it was first sent with, with nothing but the delivery id
 * stored.
 */

/** Every delivery id is at least this, so a number below it can only be a short id. */
const FIRST = 0x10000
const SHORT_MASK = 0xffff

/** The low 16 bits of a delivery id: the key of its slot among the unsettled deliveries. */
export function shortId(deliveryId: number): number {
  return deliveryId & SHORT_MASK
}

/**
 * The next delivery id after `last` whose short id is free in `unsettled` (keyed by short id).
 * Counts up through the 32-bit range and wraps to FIRST; skips short id 0.
 */
export function nextDeliveryId(last: number, unsettled: ReadonlyMap<number, unknown>): number {
  let id = last
  // One turn through every short id finds a free one: at most 65535 deliveries are unsettled.
  for (let i = 0; i <= SHORT_MASK; i++) {
    id = id >= 0xffffffff || id < FIRST ? FIRST + 1 : id + 1
    const short = id & SHORT_MASK
    if (short !== 0 && !unsettled.has(short)) return id
  }
  throw new RangeError('every short delivery id is unsettled')
}

/** Whether `id` names `deliveryId`: the full id, or a short id (below FIRST) with the same low 16 bits. */
export function namesDelivery(id: number, deliveryId: number): boolean {
  return id === deliveryId || (id < FIRST && id === (deliveryId & SHORT_MASK))
}
