import type { BrokerOptions } from './api.js'
import { BrokerError, BrokerErrorCode } from './errors.js'

/** Session Expiry Interval meaning "never" (MQTT 5 §3.1.2.11.2). */
export const NEVER_EXPIRES = 0xffffffff

/** SPEC §2 broker.receive_maximum default. */
export const DEFAULT_RECEIVE_MAXIMUM = 256

const nonNegativeIntegers = [
  'retryIntervalMs',
  'maxOfflineMessages',
  'defaultExpiry',
  'maxExpiry',
  'maxRetainedMessages',
  'maxSubscriptionsPerClient',
  'sysIntervalMs',
] as const

/** Throws FLUXMQ_ERR_INVALID_OPTION naming the first option the core cannot work with. */
export function checkOptions(o: BrokerOptions): void {
  const bad = (key: string, value: unknown): never => {
    throw new BrokerError(BrokerErrorCode.InvalidOption, `${key} = ${String(value)}`)
  }
  if (o.maxQos !== 0 && o.maxQos !== 1 && o.maxQos !== 2) bad('maxQos', o.maxQos)
  for (const key of nonNegativeIntegers) {
    const v = o[key]
    if (!Number.isInteger(v) || v < 0) bad(key, v)
  }
  if (o.defaultExpiry > NEVER_EXPIRES) bad('defaultExpiry', o.defaultExpiry)
  if (o.maxExpiry > NEVER_EXPIRES) bad('maxExpiry', o.maxExpiry)
  if (o.offlineOverflow !== 'drop_oldest' && o.offlineOverflow !== 'reject_new') bad('offlineOverflow', o.offlineOverflow)
  const rm = o.receiveMaximum
  // A Two Byte Integer, and 0 is a Protocol Error in CONNACK (MQTT 5 §3.2.2.3.3).
  if (rm !== undefined && (!Number.isInteger(rm) || rm < 1 || rm > 0xffff)) bad('receiveMaximum', rm)
}

/** The server Receive Maximum the adapters advertise (broker.receive_maximum). */
export function receiveMaximum(o: BrokerOptions): number {
  return o.receiveMaximum ?? DEFAULT_RECEIVE_MAXIMUM
}

/**
 * The Session Expiry Interval a connection gets: MQTT 3.1.1 clean_session=0 (passed as "never")
 * gets session.default_expiry, and session.max_expiry caps everything when set.
 */
export function effectiveExpiry(o: BrokerOptions, protocol: string, requested: number): number {
  const expiry = protocol === 'mqtt3' && requested === NEVER_EXPIRES ? o.defaultExpiry : requested
  return capExpiry(o, expiry)
}

export function capExpiry(o: BrokerOptions, expiry: number): number {
  return o.maxExpiry > 0 && expiry > o.maxExpiry ? o.maxExpiry : expiry
}
