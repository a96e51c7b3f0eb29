import { Fifo } from './fifo.js'
import type { Outgoing } from './outgoing.js'
import type { Stats } from './stats.js'

/**
 * Heap a queued delivery holds besides its payload and topic: its Outgoing, its queue slot and,
 * in a fan-in where each message has one subscriber, its Message (measured with
 * bench/session-memory.mjs-style heap snapshots: ~190 bytes).
 */
const QUEUED_OVERHEAD = 192

/** What a queued delivery counts against limits.max_buffered_bytes: an estimate of the memory it holds. */
function footprint(out: Outgoing): number {
  return out.message.payload.length + out.message.topic.length + QUEUED_OVERHEAD
}

const NOTHING: readonly Outgoing[] = []

/**
 * What waits in a session for window room or credit, in memory, with its weight in
 * `stats.queuedBytes`: the QoS 1/2 queue (all of it, or for a stored session the head of its
 * offline queue in Storage, `storedTail` counting the rest), and the QoS 0 deliveries held for
 * credit, in a queue of their own, memory only (MQTT orders per topic and QoS [MQTT-4.6.0-6]:
 * QoS 0 need not wait behind QoS 1/2 held by the window). Storage writes and the bound
 * (`session.max_offline_messages`) are the session's. Each Fifo is created on first use.
 */
export class SessionQueue {
  private pending: Fifo<Outgoing> | undefined
  private held: Fifo<Outgoing> | undefined
  /** QoS 1/2 deliveries that sit in Storage only, behind the in-memory head. */
  storedTail = 0

  constructor(private readonly stats: Stats) {}

  /** QoS 1/2 queue length, memory head and storage-only tail together. */
  get queued(): number {
    return (this.pending?.length ?? 0) + this.storedTail
  }

  get heldQos0(): number {
    return this.held?.length ?? 0
  }

  /** The QoS 1/2 deliveries in memory, oldest first. */
  inMemory(): Iterable<Outgoing> {
    return this.pending ?? NOTHING
  }

  push(out: Outgoing): void {
    ;(this.pending ??= new Fifo()).push(out)
    this.stats.queuedBytes += footprint(out)
  }

  shift(): Outgoing | undefined {
    const out = this.pending?.shift()
    if (out !== undefined) this.stats.queuedBytes -= footprint(out)
    return out
  }

  hold(out: Outgoing): void {
    ;(this.held ??= new Fifo()).push(out)
    this.stats.queuedBytes += footprint(out)
  }

  shiftHeld(): Outgoing | undefined {
    const held = this.held
    const out = held?.shift()
    if (out === undefined) return undefined
    this.stats.queuedBytes -= footprint(out)
    if (held!.length === 0) this.held = undefined
    return out
  }

  /** Drops every held QoS 0 delivery; how many there were. */
  dropHeld(): number {
    const held = this.held
    if (held === undefined) return 0
    for (const out of held) this.stats.queuedBytes -= footprint(out)
    this.held = undefined
    return held.length
  }

  /** A stored session went offline: its in-memory head is freed, it stays in Storage (`storedTail`). */
  spill(): void {
    const pending = this.pending
    if (pending === undefined) return
    this.storedTail += pending.length
    for (const out of pending) this.stats.queuedBytes -= footprint(out)
    this.pending = undefined
  }

  /** The session ended: the QoS 1/2 deliveries in memory go. */
  clear(): void {
    const pending = this.pending
    if (pending !== undefined) for (const out of pending) this.stats.queuedBytes -= footprint(out)
    this.pending = undefined
  }
}
