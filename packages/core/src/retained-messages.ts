import type { Message } from './message.js'
import { Refusal } from './refusal.js'
import { RetainedStore } from './retained.js'
import type { Stats } from './stats.js'
import type { Storage } from './storage.js'
import type { TimerQueue } from './timers.js'

/**
 * The retained-message policy: what is kept, for how long, how many, and mirrored to Storage.
 * `stats.retainedCurrent` and the `max` limit count the clients' retained messages only: the
 * broker's own `$SYS` snapshot (tens of topics) would otherwise make a broker holding one user
 * message report 35, and fill a small limit by itself.
 */
export class RetainedMessages {
  private readonly store = new RetainedStore()
  private readonly scratch: Message[] = []

  constructor(
    private readonly storage: Storage,
    private readonly timers: TimerQueue,
    private readonly stats: Stats,
    private readonly max: number,
  ) {}

  get size(): number {
    return this.store.size
  }

  /** Restores a message loaded from Storage; expired ones are deleted there instead. */
  load(message: Message, now: number): void {
    if (message.expiresAt !== undefined && message.expiresAt <= now) {
      this.storage.deleteRetained(message.topic)
      return
    }
    this.keep(message, true)
  }

  /**
   * Applies a PUBLISH with RETAIN=1. `refused` is QuotaExceeded when max_retained_messages is
   * reached and the topic is new (the publish is refused as a whole); `wrote` tells whether
   * Storage got a write. `persist` is false for `$SYS`, which is regenerated after a restart
   * rather than written every interval, and neither counted nor limited.
   */
  apply(message: Message, persist: boolean): { refused?: Refusal; wrote: boolean } {
    const topic = message.topic
    if (message.payload.length === 0) {
      // [MQTT-3.3.1-6] A zero-byte retained message removes the retained message of its topic …
      // [MQTT-3.3.1-7] … and is not stored itself.
      if (!this.store.delete(topic)) return NOTHING
      if (!persist) return NOTHING
      this.stats.retainedCurrent--
      this.storage.deleteRetained(topic)
      return WROTE
    }
    const replaces = this.store.get(topic) !== undefined
    if (!replaces && persist && this.max > 0 && this.stats.retainedCurrent >= this.max) return REFUSED
    // [MQTT-3.3.1-5] The Server MUST store the message, replacing any retained message of the topic.
    this.keep(message, persist)
    if (!persist) return NOTHING
    this.storage.putRetained(message)
    return WROTE
  }

  /** Live retained messages matching a (non-shared) filter; expired ones are removed on the way. */
  match(filter: string, now: number): readonly Message[] {
    const found = this.store.match(filter, this.scratch)
    const live: Message[] = []
    for (const m of found) {
      if (m.expiresAt !== undefined && m.expiresAt <= now) this.expire(m)
      else live.push(m)
    }
    found.length = 0
    return live
  }

  private keep(message: Message, counted: boolean): void {
    if (counted && this.store.get(message.topic) === undefined) this.stats.retainedCurrent++
    this.store.set(message)
    const expiresAt = message.expiresAt
    if (expiresAt !== undefined) this.timers.add(expiresAt, () => this.expire(message))
  }

  /** [MQTT-3.3.2-5] An expired retained message is deleted, unless a newer one replaced it (only clients' messages expire). */
  private expire(message: Message): void {
    if (this.store.get(message.topic) !== message) return
    this.store.delete(message.topic)
    this.stats.retainedCurrent--
    this.storage.deleteRetained(message.topic)
  }
}

const NOTHING = Object.freeze({ wrote: false })
const WROTE = Object.freeze({ wrote: true })
const REFUSED = Object.freeze({ refused: Refusal.QuotaExceeded, wrote: false })
