import type { Message } from '@fluxmq/core'
import { messageSize } from './sqlite/queue-store.js'

/**
 * The newest committed messages of one queue, kept after their commit so that consumers that keep
 * up are fed from memory instead of reading back what was just written. Bounded in bytes; the
 * oldest go first. A consumer that falls behind reads from the log.
 */
export class RecentMessages {
  /** Insertion order is offset order: appends are revealed in offset order. */
  private readonly messages = new Map<number, Message>()
  private bytes = 0

  constructor(private readonly maxBytes: number) {}

  add(offset: number, message: Message): void {
    this.messages.set(offset, message)
    this.bytes += messageSize(message)
    // Checked first: an iterator per append costs more than the append while the queue keeps up.
    if (this.bytes <= this.maxBytes) return
    for (const [oldest, evicted] of this.messages) {
      if (this.bytes <= this.maxBytes) break
      this.messages.delete(oldest)
      this.bytes -= messageSize(evicted)
    }
  }

  get(offset: number): Message | undefined {
    return this.messages.get(offset)
  }

  /** Forgets offsets below `offset` (truncated from the log). */
  dropBelow(offset: number): void {
    for (const [oldest, message] of this.messages) {
      if (oldest >= offset) break
      this.messages.delete(oldest)
      this.bytes -= messageSize(message)
    }
  }
}
