import type { Message } from './message.js'
import type { WillRecord } from './storage.js'

/**
 * [MQTT-3.1.2-8] The will goes out after the Will Delay Interval or when the session ends,
 * whichever is first: the effective delay in seconds.
 */
export function willDelay(will: WillRecord, sessionExpiryInterval: number): number {
  return Math.min(will.delayInterval, sessionExpiryInterval)
}

/**
 * The message a will's message becomes when published at `now`, by this node or, for a dead
 * node's will, by the cluster leader. Its Message Expiry Interval counts from publication, not
 * from the CONNECT that carried it: the adapter built `expiresAt` as publishedAt + interval, so
 * the interval is their difference. The adapter's `wire` cache is dropped with the old object.
 */
export function willMessage(m: Message, clientId: string, now: number): Message {
  return {
    topic: m.topic,
    payload: m.payload,
    qos: m.qos,
    retain: m.retain,
    properties: m.properties,
    expiresAt: m.expiresAt === undefined ? undefined : now + (m.expiresAt - m.publishedAt),
    publishedAt: now,
    publisherId: m.publisherId ?? clientId,
  }
}
