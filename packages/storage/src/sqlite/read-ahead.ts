import type { Message } from '@fluxmq/core'

/** Messages a take reads past what it was asked for, at most. */
export const READ_AHEAD_MESSAGES = 512
/** Payload bytes one queue's read-ahead keeps, at most. */
const READ_AHEAD_BYTES = 256 * 1024
/** Queues that keep a read-ahead, at most: the least recently read one is dropped first. */
const READ_AHEAD_QUEUES = 256

interface Ahead {
  /** The seq of messages[at]. */
  from: number
  at: number
  readonly messages: Message[]
}

/**
 * The messages that follow a queue's head, decoded by an earlier take. A resumed session takes
 * from its stored queue a few messages at a time (as its window frees up); serving those from
 * here saves a commit and a read transaction per take. Only committed entries are kept, and
 * nothing but removal from the head (which moves `from`) or deleting the session changes them.
 */
export class ReadAhead {
  private readonly queues = new Map<string, Ahead>()

  /** The `count` messages from `head` on, if all are held. */
  take(clientId: string, head: number, count: number): Message[] | undefined {
    const ahead = this.queues.get(clientId)
    if (ahead === undefined || ahead.from !== head || ahead.messages.length - ahead.at < count) return undefined
    return ahead.messages.slice(ahead.at, ahead.at + count)
  }

  /** Keeps `messages` (read from disk, starting at seq `from`), within the budget. */
  keep(clientId: string, from: number, messages: Message[]): void {
    this.queues.delete(clientId)
    let kept = 0
    let bytes = 0
    for (const message of messages) {
      bytes += message.payload.length
      if (bytes > READ_AHEAD_BYTES) break
      kept++
    }
    if (kept === 0) return
    this.queues.set(clientId, { from, at: 0, messages: kept === messages.length ? messages : messages.slice(0, kept) })
    if (this.queues.size > READ_AHEAD_QUEUES) this.queues.delete(this.queues.keys().next().value as string)
  }

  /** The queue's head moved to `head`: what is below it is gone. */
  advanced(clientId: string, head: number): void {
    const ahead = this.queues.get(clientId)
    if (ahead === undefined) return
    ahead.at += head - ahead.from
    ahead.from = head
    if (ahead.at >= ahead.messages.length) this.queues.delete(clientId)
  }

  forget(clientId: string): void {
    this.queues.delete(clientId)
  }
}
