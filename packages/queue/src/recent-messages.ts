import type { Message } from '@fluxmq/core'
import { messageSize } from './sqlite/queue-store.js'

/**
 * The newest committed messages of one queue, kept after their commit so that consumers that keep
 * up are fed from memory instead of reading back what was just written. Bounded in bytes; the
 * oldest go first. A consumer that falls behind reads from the log.
 *
 * Offsets arrive contiguous and in order (appends are revealed so), so the messages sit in a ring
 * buffer, `first` at index `head`: a Map churned by an add and a delete per message grew and
 * shrank its table with every batch. The ring only grows (to the most messages held at once).
 */
export class RecentMessages {
  /** A power of two long. */
  private ring: (Message | undefined)[] = new Array<Message | undefined>(16)
  private head = 0
  private count = 0
  /** The offset at `ring[head]`. */
  private first = 0
  private bytes = 0

  constructor(private readonly maxBytes: number) {}

  add(offset: number, message: Message): void {
    // After a gap (everything dropped, then appends the queue did not keep) it starts over at `offset`.
    if (offset !== this.first + this.count) {
      this.dropBelow(Number.POSITIVE_INFINITY)
      this.first = offset
    }
    if (this.count === this.ring.length) this.grow()
    this.ring[(this.head + this.count) & (this.ring.length - 1)] = message
    this.count += 1
    this.bytes += messageSize(message)
    while (this.bytes > this.maxBytes && this.count > 0) this.shift()
  }

  get(offset: number): Message | undefined {
    const index = offset - this.first
    return index < 0 || index >= this.count ? undefined : this.ring[(this.head + index) & (this.ring.length - 1)]
  }

  /** Forgets offsets below `offset` (delivered to every group, or truncated from the log). */
  dropBelow(offset: number): void {
    while (this.count > 0 && this.first < offset) this.shift()
  }

  private shift(): void {
    this.bytes -= messageSize(this.ring[this.head] as Message)
    this.ring[this.head] = undefined
    this.head = (this.head + 1) & (this.ring.length - 1)
    this.count -= 1
    this.first += 1
  }

  private grow(): void {
    const ring = new Array<Message | undefined>(this.ring.length * 2)
    for (let i = 0; i < this.count; i++) ring[i] = this.ring[(this.head + i) & (this.ring.length - 1)]
    this.ring = ring
    this.head = 0
  }
}
