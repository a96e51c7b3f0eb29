import { topicMatches } from '@fluxmq/core'

/**
 * Which queues capture an ordinary publish: each queue's `topics` filters, matched one by one.
 * A linear scan is enough for the handful of configured queues; when the shared topic module
 * (`@fluxmq/topic`, in progress) lands, this should use its trie so the grammar lives in one place.
 */
export class TopicCapture {
  private readonly filters = new Map<string, readonly string[]>()

  set(queue: string, topics: readonly string[]): void {
    if (topics.length === 0) this.filters.delete(queue)
    else this.filters.set(queue, topics)
  }

  /** Names of the queues one of whose filters matches `topic`, each once. */
  match(topic: string): string[] {
    const queues: string[] = []
    for (const [queue, topics] of this.filters) {
      if (topics.some((filter) => topicMatches(filter, topic))) queues.push(queue)
    }
    return queues
  }
}
