import type { Message, UserProperty } from '@fluxmq/core'
import { formatMessageId } from './names.js'

/**
 * How a consumer settles a delivery, in AMQP's vocabulary (SPEC §5): `accepted` = ack,
 * `released` = nack that does not count against max_deliveries, `modified` (delivery-failed) =
 * nack, `rejected` = reject (to the dead-letter queue at once).
 */
export type Outcome = 'accepted' | 'released' | 'rejected' | 'modified'

/** One message handed to one consumer. */
export interface QueueDelivery {
  readonly consumerId: string
  /** Unique among the consumer's unsettled deliveries; wraps at 2^32. */
  readonly deliveryId: number
  readonly queue: string
  readonly group: string
  readonly offset: number
  /** `<queue>:<offset>`, what manual settlement names. */
  readonly messageId: string
  /** 1 for the first delivery to this group. */
  readonly deliveryCount: number
  /** The stored message with the delivery properties appended to its user properties. */
  readonly message: Message
}

/** The user property names a delivery carries (SPEC §4). */
export const DeliveryProperty = {
  MessageId: 'message-id',
  GroupId: 'group-id',
  Queue: 'queue',
  Offset: 'offset',
  DeliveryCount: 'delivery-count',
  SourceTopic: 'source-topic',
} as const

/** The user property names a dead-lettered message carries: where it came from and why. */
export const DeadLetterProperty = {
  MessageId: 'dlq-message-id',
  GroupId: 'dlq-group-id',
  Queue: 'dlq-queue',
  Offset: 'dlq-offset',
  DeliveryCount: 'dlq-delivery-count',
  /** `rejected` or `max-deliveries`. */
  Cause: 'dlq-cause',
  /** The consumer's reason text given with a reject or nack, when there was one. */
  Reason: 'dlq-reason',
  /** When it moved, ms since the epoch. */
  At: 'dlq-at',
} as const

export interface DeliveryPosition {
  readonly queue: string
  readonly group: string
  readonly offset: number
  readonly deliveryCount: number
}

/**
 * The user properties that every delivery of one group carries alike (`group-id`, `queue`, and
 * `source-topic` while the topic stays the same), made once and shared: a delivery's properties
 * are never modified (readonly tuples), and each tuple is two allocations.
 */
export class DeliveryLabels {
  readonly group: UserProperty
  readonly queue: UserProperty
  private source: UserProperty = [DeliveryProperty.SourceTopic, '']

  constructor(queue: string, group: string) {
    this.group = [DeliveryProperty.GroupId, group]
    this.queue = [DeliveryProperty.Queue, queue]
  }

  sourceTopic(topic: string): UserProperty {
    if (this.source[1] !== topic) this.source = [DeliveryProperty.SourceTopic, topic]
    return this.source
  }
}

/** The delivery properties appended to a message's own user properties. */
const DELIVERY_PROPERTIES = 6

/**
 * The message as one delivery carries it; the source topic is the topic it was published to.
 * `messageId` is `formatMessageId(queue, offset)`, which the caller has made already. Every
 * delivery makes one of these, so its arguments are spelled out (no position object) and it is
 * built as one literal of a single shape, `wire` included: an object rest (`{ wire, ...rest }`)
 * or a property added later gives each delivery's message a slower shape, and the MQTT adapter
 * adds `wire` to every one it encodes.
 */
export function deliveredMessage(stored: Message, labels: DeliveryLabels, offset: number, deliveryCount: number, messageId: string): Message {
  const own = stored.properties.userProperties
  const count = own === undefined ? 0 : own.length
  // One array of its final length: no intermediate list of the added ones, no spread.
  const userProperties = new Array<UserProperty>(count + DELIVERY_PROPERTIES)
  for (let i = 0; i < count; i++) userProperties[i] = (own as readonly UserProperty[])[i] as UserProperty
  userProperties[count] = [DeliveryProperty.MessageId, messageId]
  userProperties[count + 1] = labels.group
  userProperties[count + 2] = labels.queue
  userProperties[count + 3] = [DeliveryProperty.Offset, String(offset)]
  userProperties[count + 4] = [DeliveryProperty.DeliveryCount, String(deliveryCount)]
  userProperties[count + 5] = labels.sourceTopic(stored.topic)
  return {
    topic: stored.topic,
    payload: stored.payload,
    qos: stored.qos,
    retain: stored.retain,
    properties: { ...stored.properties, userProperties },
    expiresAt: stored.expiresAt,
    publishedAt: stored.publishedAt,
    publisherId: stored.publisherId,
    wire: undefined,
  }
}

export interface DeadLetterHistory extends DeliveryPosition {
  readonly cause: 'rejected' | 'max-deliveries'
  readonly reason?: string
  readonly at: number
}

/** The copy appended to the dead-letter queue: same topic, payload and properties, plus its history. */
export function deadLetterMessage(stored: Message, history: DeadLetterHistory): Message {
  const added: UserProperty[] = [
    [DeadLetterProperty.MessageId, formatMessageId(history.queue, history.offset)],
    [DeadLetterProperty.GroupId, history.group],
    [DeadLetterProperty.Queue, history.queue],
    [DeadLetterProperty.Offset, String(history.offset)],
    [DeadLetterProperty.DeliveryCount, String(history.deliveryCount)],
    [DeadLetterProperty.Cause, history.cause],
  ]
  if (history.reason !== undefined) added.push([DeadLetterProperty.Reason, history.reason])
  added.push([DeadLetterProperty.At, String(history.at)])
  // Expiry is dropped: a dead letter is kept for inspection, not for its original audience.
  const { expiresAt: _expiresAt, ...rest } = withUserProperties(stored, added)
  return rest
}

function withUserProperties(message: Message, added: readonly UserProperty[]): Message {
  const { wire: _wire, ...rest } = message
  return {
    ...rest,
    properties: { ...message.properties, userProperties: [...(message.properties.userProperties ?? []), ...added] },
  }
}
