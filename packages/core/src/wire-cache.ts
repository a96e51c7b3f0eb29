import type { Message } from './message.js'

/**
 * One protocol adapter's encoded forms of a message, kept on `Message.wire` and shared by every
 * delivery of that message in the adapter's protocol. An adapter keeps at most one per message,
 * an instance of a class of its own (that is how it finds it again); the caches of several
 * adapters (MQTT, AMQP, a cluster peer stream) are chained through `next`, so none of them needs
 * to know another's. A message that goes out in one protocol only carries that adapter's cache
 * alone, with nothing around it.
 */
export interface WireCache {
  next: WireCache | undefined
}

/** The cache of class `kind` on `message`, if its adapter kept one. */
export function wireCache<T extends WireCache>(message: Message, kind: abstract new (...args: never[]) => T): T | undefined {
  let cache = message.wire as WireCache | undefined
  while (cache !== undefined && !(cache instanceof kind)) cache = cache.next
  return cache
}

/** Keeps `cache` on `message`, in front of other adapters' caches (the newest is asked for first). */
export function keepWireCache(message: Message, cache: WireCache): void {
  cache.next = message.wire as WireCache | undefined
  message.wire = cache
}
