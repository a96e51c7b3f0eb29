import { topicMatches, validateTopicFilter } from '@fluxmq/topic'
import type { Outcome } from './delivery.js'
import { QueueError, QueueErrorCode } from './errors.js'

/** Publishing to `$queue/<name>[/<routing-key>]` appends to that queue (SPEC §4). */
export const QUEUE_TOPIC_PREFIX = '$queue/'
/** Dead-lettered messages of queue `q` go to the queue named `$dlq/q`. */
export const DLQ_PREFIX = '$dlq/'

/** The config's name alphabet (apps/broker config/schema.ts), so a name valid there is valid here. */
const NAME = /^[A-Za-z0-9._-]+$/
/** Names become etcd keys and MQTT topic levels in a cluster; a bound keeps both small. */
const MAX_NAME_LENGTH = 200

function validName(name: string): boolean {
  return name.length <= MAX_NAME_LENGTH && NAME.test(name)
}

/** Throws InvalidName unless `name` is a queue name: a plain name or `$dlq/<plain name>`. */
export function checkQueueName(name: string): void {
  const plain = isDeadLetterQueue(name) ? name.slice(DLQ_PREFIX.length) : name
  if (!validName(plain)) {
    throw new QueueError(QueueErrorCode.InvalidName, `invalid queue name ${JSON.stringify(name)}: use 1-${MAX_NAME_LENGTH} letters, digits, ".", "_" or "-"`)
  }
}

/** Throws InvalidGroup unless `group` is a consumer group name. */
export function checkGroupName(group: string): void {
  if (!validName(group)) {
    throw new QueueError(QueueErrorCode.InvalidGroup, `invalid consumer group ${JSON.stringify(group)}: use 1-${MAX_NAME_LENGTH} letters, digits, ".", "_" or "-"`)
  }
}

/** Separates a group's name from its routing-key filter in a group id; names never contain it. */
const FILTER_SEPARATOR = '@'

/**
 * The id of a consumer group as the engine keeps it and deliveries carry it (`group-id`): the name
 * alone for a group that takes every message (no filter, or `#`), else `<name>@<filter>`. Members
 * that share a name but not a filter are thus separate groups with their own progress, each
 * message of the queue going once to each of them, and a message id is settled in the group that
 * received it. Throws InvalidGroup or InvalidFilter.
 */
export function groupIdOf(name: string, filter: string | undefined): string {
  checkGroupName(name)
  if (filter === undefined || filter === '#') return name
  const error = validateTopicFilter(filter)
  // Routing keys never start with "$" (queueOfTopic refuses them), and `$share/` means nothing here.
  if (error !== undefined || filter.startsWith('$')) {
    const why = error === undefined ? 'routing keys never start with "$"' : `${error.message} [${error.rule}]`
    throw new QueueError(QueueErrorCode.InvalidFilter, `invalid routing-key filter ${JSON.stringify(filter)}: ${why}`)
  }
  return name + FILTER_SEPARATOR + filter
}

/** The routing-key filter of a group id (undefined: every message); throws InvalidGroup or InvalidFilter. */
export function filterOfGroupId(id: string): string | undefined {
  const at = id.indexOf(FILTER_SEPARATOR)
  if (at === -1) {
    checkGroupName(id)
    return undefined
  }
  const filter = id.slice(at + 1)
  // `name@#` is not an id: that group is `name`.
  if (groupIdOf(id.slice(0, at), filter) !== id) throw new QueueError(QueueErrorCode.InvalidGroup, `invalid consumer group id ${JSON.stringify(id)}`)
  return filter
}

/**
 * Whether a group filtering on `filter` takes a message published to `topic`: the routing key is
 * what follows `$queue/<name>/` (a publish to `$queue/<name>` has none and matches no filter), and
 * for a publish a queue captured, its whole topic.
 */
export function routingKeyMatches(filter: string, topic: string): boolean {
  if (!topic.startsWith(QUEUE_TOPIC_PREFIX)) return topicMatches(filter, topic)
  const slash = topic.indexOf('/', QUEUE_TOPIC_PREFIX.length)
  return slash !== -1 && topicMatches(filter, topic.slice(slash + 1))
}

export function deadLetterQueueOf(queue: string): string {
  return DLQ_PREFIX + queue
}

export function isDeadLetterQueue(queue: string): boolean {
  return queue.startsWith(DLQ_PREFIX)
}

/** The settlement topics `$queue/<name>/$ack|$nack|$reject` and the outcome each stands for (SPEC §4). */
const SETTLEMENT_OUTCOMES: Readonly<Record<string, Outcome>> = { $ack: 'accepted', $nack: 'modified', $reject: 'rejected' }

/** `$queue/<name>` and the rest after it (`undefined` without one); throws InvalidName for a bad name. */
function splitQueueTopic(topic: string): { queue: string; rest: string | undefined } | undefined {
  if (!topic.startsWith(QUEUE_TOPIC_PREFIX)) return undefined
  const slash = topic.indexOf('/', QUEUE_TOPIC_PREFIX.length)
  const queue = topic.slice(QUEUE_TOPIC_PREFIX.length, slash === -1 ? undefined : slash)
  checkQueueName(queue)
  return { queue, rest: slash === -1 ? undefined : topic.slice(slash + 1) }
}

/**
 * The queue a publish to `topic` appends to: `$queue/<name>[/<routing-key>]` gives `name`; any
 * other topic gives undefined. Throws InvalidName for `$queue/` followed by an invalid name, and
 * ReservedTopic for a routing key starting with "$" (`$ack`, `$nack`, `$reject` are settlements,
 * see settlementOfTopic; the rest is kept for later ones).
 */
export function queueOfTopic(topic: string): string | undefined {
  const parts = splitQueueTopic(topic)
  if (parts === undefined) return undefined
  if (parts.rest?.startsWith('$') === true) {
    throw new QueueError(QueueErrorCode.ReservedTopic, `${topic} is a settlement or reserved topic, not a publish to queue ${parts.queue}`)
  }
  return parts.queue
}

/** For `$queue/<name>/$ack|$nack|$reject`: the queue and the outcome; undefined for any other topic. */
export function settlementOfTopic(topic: string): { queue: string; outcome: Outcome } | undefined {
  const parts = splitQueueTopic(topic)
  const outcome = parts?.rest === undefined ? undefined : SETTLEMENT_OUTCOMES[parts.rest]
  return parts === undefined || outcome === undefined ? undefined : { queue: parts.queue, outcome }
}

/** The message id a delivery carries: `<queue>:<offset>`. */
export function formatMessageId(queue: string, offset: number): string {
  return `${queue}:${offset}`
}

/** Parses `<queue>:<offset>`; queue names have no ":", so the last one splits. Throws InvalidMessageId. */
export function parseMessageId(id: string): { queue: string; offset: number } {
  const parts = splitMessageId(id)
  try {
    checkQueueName(parts.queue)
  } catch (cause) {
    throw invalidMessageId(id, cause)
  }
  return parts
}

/**
 * `<queue>:<offset>` split, the offset checked (1 to 16 digits) but not the queue name: for a
 * caller that looks the queue up first (every ack does), a name it finds is valid already.
 * Throws InvalidMessageId.
 */
export function splitMessageId(id: string): { queue: string; offset: number } {
  const colon = id.lastIndexOf(':')
  const digits = id.length - colon - 1
  if (colon <= 0 || digits < 1 || digits > 16) throw invalidMessageId(id)
  let offset = 0
  for (let i = colon + 1; i < id.length; i++) {
    const digit = id.charCodeAt(i) - 48
    if (digit < 0 || digit > 9) throw invalidMessageId(id)
    offset = offset * 10 + digit
  }
  if (!Number.isSafeInteger(offset)) throw invalidMessageId(id)
  return { queue: id.slice(0, colon), offset }
}

function invalidMessageId(id: string, cause?: unknown): QueueError {
  return new QueueError(QueueErrorCode.InvalidMessageId, `invalid message id ${JSON.stringify(id)}: expected "<queue>:<offset>"`, { cause })
}
