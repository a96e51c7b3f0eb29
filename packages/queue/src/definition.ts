import { parseSharedFilter, validateTopicFilter } from '@fluxmq/core'
import { QueueError, QueueErrorCode } from './errors.js'
import { checkQueueName } from './names.js'

export type QueueType = 'classic' | 'stream'

/** Upper bounds on what a queue keeps; 0 means no bound. */
export interface RetentionLimits {
  readonly maxAgeMs: number
  readonly maxMessages: number
  readonly maxBytes: number
}

/** One queue as SPEC §4 describes it (the `queues:` config item, in the engine's units). */
export interface QueueDefinition {
  readonly name: string
  /** Topic filters: an ordinary publish matching one of them is appended to this queue too. */
  readonly topics: readonly string[]
  readonly type: QueueType
  /** Deliveries counted against a message before it moves to the dead-letter queue. */
  readonly maxDeliveries: number
  /** How long a delivered message may stay unsettled before it is delivered again. */
  readonly visibilityTimeoutMs: number
  readonly retention: RetentionLimits
}

/** What a caller declares: a name, the rest defaults to the engine's defaults. */
export type QueueDeclaration = { readonly name: string } & Partial<Omit<QueueDefinition, 'name'>>

/** The defaults of SPEC §2 `queues:` items. */
export const DEFAULT_QUEUE_SETTINGS: Omit<QueueDefinition, 'name'> = {
  topics: [],
  type: 'classic',
  maxDeliveries: 5,
  visibilityTimeoutMs: 30_000,
  retention: { maxAgeMs: 0, maxMessages: 0, maxBytes: 0 },
}

/** Fills a declaration from `defaults` and checks every value; throws InvalidName or InvalidDefinition. */
export function defineQueue(declaration: QueueDeclaration, defaults: Omit<QueueDefinition, 'name'> = DEFAULT_QUEUE_SETTINGS): QueueDefinition {
  checkQueueName(declaration.name)
  const definition: QueueDefinition = {
    name: declaration.name,
    topics: declaration.topics ?? defaults.topics,
    type: declaration.type ?? defaults.type,
    maxDeliveries: declaration.maxDeliveries ?? defaults.maxDeliveries,
    visibilityTimeoutMs: declaration.visibilityTimeoutMs ?? defaults.visibilityTimeoutMs,
    retention: { ...defaults.retention, ...declaration.retention },
  }
  const bad = (key: string, value: unknown, expected: string): QueueError =>
    new QueueError(QueueErrorCode.InvalidDefinition, `queue ${definition.name}: ${key} is ${JSON.stringify(value)}, expected ${expected}`)
  for (const filter of definition.topics) {
    if (validateTopicFilter(filter) !== undefined || parseSharedFilter(filter) !== undefined) {
      throw bad('topics', filter, 'a valid MQTT topic filter without $share/')
    }
  }
  if (definition.type !== 'classic' && definition.type !== 'stream') throw bad('type', definition.type, 'classic or stream')
  if (!Number.isSafeInteger(definition.maxDeliveries) || definition.maxDeliveries < 1) throw bad('maxDeliveries', definition.maxDeliveries, 'an integer >= 1')
  if (!Number.isSafeInteger(definition.visibilityTimeoutMs) || definition.visibilityTimeoutMs < 1) {
    throw bad('visibilityTimeoutMs', definition.visibilityTimeoutMs, 'an integer >= 1')
  }
  for (const [key, value] of Object.entries(definition.retention)) {
    if (!Number.isSafeInteger(value) || value < 0) throw bad(`retention.${key}`, value, 'an integer >= 0 (0 = no bound)')
  }
  return definition
}
