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

export function deadLetterQueueOf(queue: string): string {
  return DLQ_PREFIX + queue
}

export function isDeadLetterQueue(queue: string): boolean {
  return queue.startsWith(DLQ_PREFIX)
}

/**
 * The queue a publish to `topic` addresses: `$queue/<name>[/<routing-key>]` gives `name`; any
 * other topic gives undefined. Throws InvalidName for `$queue/` followed by an invalid name.
 */
export function queueOfTopic(topic: string): string | undefined {
  if (!topic.startsWith(QUEUE_TOPIC_PREFIX)) return undefined
  const slash = topic.indexOf('/', QUEUE_TOPIC_PREFIX.length)
  const name = topic.slice(QUEUE_TOPIC_PREFIX.length, slash === -1 ? undefined : slash)
  checkQueueName(name)
  return name
}

/** The message id a delivery carries: `<queue>:<offset>`. */
export function formatMessageId(queue: string, offset: number): string {
  return `${queue}:${offset}`
}

/** Parses `<queue>:<offset>`; queue names have no ":", so the last one splits. Throws InvalidMessageId. */
export function parseMessageId(id: string): { queue: string; offset: number } {
  const colon = id.lastIndexOf(':')
  const queue = id.slice(0, colon)
  const digits = id.slice(colon + 1)
  const offset = Number(digits)
  if (colon <= 0 || !/^\d{1,16}$/.test(digits) || !Number.isSafeInteger(offset)) {
    throw new QueueError(QueueErrorCode.InvalidMessageId, `invalid message id ${JSON.stringify(id)}: expected "<queue>:<offset>"`)
  }
  try {
    checkQueueName(queue)
  } catch (cause) {
    throw new QueueError(QueueErrorCode.InvalidMessageId, `invalid message id ${JSON.stringify(id)}: expected "<queue>:<offset>"`, { cause })
  }
  return { queue, offset }
}
