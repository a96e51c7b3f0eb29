import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Clock, Logger, QueuePort, QueuePortDelivery } from '@fluxmq/core'
import { QUEUE_TOPIC_PREFIX, QueueEngine, checkQueueName } from '@fluxmq/queue'
import type { QueueDeclaration } from '@fluxmq/queue'
import type { FluxConfig, QueueConfig } from '../config/schema.js'
import { spacedCommits } from './commit-schedule.js'

/** The queue engine of this process, the QueuePort the core consumes it through, and its lifecycle. */
export interface Queues {
  /** The engine; throws before `open()`. */
  readonly engine: QueueEngine
  /** The commit failure that stopped the engine, for readiness; undefined while healthy or not open. */
  readonly failure: Error | undefined
  /** Valid from construction on (the core binds it), usable once `open()` returned. */
  readonly port: QueuePort
  /** Opens `queues.db`: after the session store, so a broken storage.dir is reported as the store's failure. */
  open(): void
  /** Commits what is staged, closes the file; a temporary directory is removed. */
  close(): void
}

/**
 * Queue commits begin at least this far apart under load (commit-schedule.ts). Measured with
 * bench/queue.mjs (3 alternating runs each): commits carried about 6 messages at every turn's
 * commit and 22-25 with 2 ms between them, and the broker's CPU per queue message went from
 * 42-65 µs to 33-39 µs, p99 latency unchanged within the noise.
 */
const COMMIT_INTERVAL_MS = 2

/** A `queues:` config item in the engine's units (replication is for the cluster and ignored on one node). */
export function declaration(queue: QueueConfig): QueueDeclaration {
  return {
    name: queue.name,
    topics: queue.topics,
    type: queue.type,
    maxDeliveries: queue.max_deliveries,
    visibilityTimeoutMs: queue.visibility_timeout,
    retention: { maxAgeMs: queue.retention.max_age, maxMessages: queue.retention.max_messages, maxBytes: queue.retention.max_bytes },
  }
}

/**
 * The engine where storage lives: `<storage.dir>/queues.db` with SQLite storage. With memory
 * storage the queues are as volatile as the sessions: the engine (which needs SQLite) runs in a
 * fresh temporary directory, removed when the broker closes, so a default run leaves no files
 * behind and never sees a previous run's queues.
 */
export function createQueues(config: FluxConfig, clock: Clock, logger: Logger): Queues {
  const temporary = config.storage.type === 'memory'
  // Only configured queues capture topics (queues created on first use have no filters).
  const captures = config.queues.some((queue) => queue.topics.length > 0)
  let dir: string | undefined
  let opened: QueueEngine | undefined
  let deliver: (delivery: QueuePortDelivery) => void = () => {
    throw new Error('queue delivery before the core bound the queue port')
  }
  const engine = (): QueueEngine => {
    if (opened === undefined) throw new Error('queue engine used before it was opened')
    return opened
  }
  const removeTemporary = (): void => {
    if (temporary && dir !== undefined) rmSync(dir, { recursive: true, force: true })
  }
  const port: QueuePort = {
    bind: (fn) => {
      deliver = fn
    },
    publish: (message) => {
      // Every publish passes here: without a configured capture only `$queue/…` can be appended.
      if (!captures && !message.topic.startsWith(QUEUE_TOPIC_PREFIX)) return undefined
      const { appended, durable } = engine().publish(message.topic, message)
      return appended.length === 0 ? undefined : durable
    },
    attach: (consumer) => {
      // The engine creates a queue on first use; a name is checked before anything is created.
      checkQueueName(consumer.queue)
      engine().attach(consumer)
    },
    grant: (consumerId, credit) => engine().grant(consumerId, credit),
    settle: (consumerId, deliveryId, outcome) => {
      engine().settle(consumerId, deliveryId, outcome)
      return engine().durable()
    },
    settleMessage: (messageId, group, outcome, reason) => {
      engine().settleMessage({ messageId, group, outcome, ...(reason === undefined ? {} : { reason }) })
      return engine().durable()
    },
    detach: (consumerId) => engine().detach(consumerId),
  }
  return {
    get engine() {
      return engine()
    },
    get failure() {
      return opened?.failure
    },
    port,
    open: () => {
      dir = temporary ? mkdtempSync(join(tmpdir(), 'fluxmq-queues-')) : config.storage.dir
      try {
        opened = QueueEngine.open({
          dir,
          sync: config.storage.sync,
          clock,
          logger,
          deliver: (delivery) => deliver(delivery),
          queues: config.queues.map(declaration),
          schedule: spacedCommits(COMMIT_INTERVAL_MS),
        })
      } catch (err) {
        removeTemporary()
        throw err
      }
      logger.info({ dir, temporary, queues: config.queues.length }, 'queue engine opened')
    },
    close: () => {
      opened?.close()
      removeTemporary()
    },
  }
}
