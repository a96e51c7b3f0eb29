import { Refusal } from '@fluxmq/core'

/** Stable codes of the queue engine; a code is never reused for another meaning. */
export const QueueErrorCode = {
  /** A queue name that is empty, too long or has characters outside letters, digits, ".", "_", "-". */
  InvalidName: 'FLUXMQ_ERR_QUEUE_INVALID_NAME',
  /** A publish to `$queue/<name>/$…`: settlement topics and other reserved routing keys are not appended. */
  ReservedTopic: 'FLUXMQ_ERR_QUEUE_RESERVED_TOPIC',
  /** A consumer group name that is not a valid name (same alphabet as queue names). */
  InvalidGroup: 'FLUXMQ_ERR_QUEUE_INVALID_GROUP',
  /** A queue definition (config or first use) with a value the engine cannot work with. */
  InvalidDefinition: 'FLUXMQ_ERR_QUEUE_INVALID_DEFINITION',
  /** A consumer's routing-key filter (`$queue/<name>/<filter>`) that is not a valid topic filter. */
  InvalidFilter: 'FLUXMQ_ERR_QUEUE_INVALID_FILTER',
  /** A message id that is not `<queue>:<offset>`. */
  InvalidMessageId: 'FLUXMQ_ERR_QUEUE_INVALID_MESSAGE_ID',
  /** A well-formed message id that names no message pending in any group of that queue. */
  UnknownMessage: 'FLUXMQ_ERR_QUEUE_UNKNOWN_MESSAGE',
  /** A settlement names a group that does not exist on the queue, or that does not hold the message. */
  WrongGroup: 'FLUXMQ_ERR_QUEUE_WRONG_GROUP',
  /** A cursor that does not parse, or a cursor on a classic queue. */
  BadCursor: 'FLUXMQ_ERR_QUEUE_BAD_CURSOR',
  /** A consumer id that is already attached. */
  ConsumerExists: 'FLUXMQ_ERR_QUEUE_CONSUMER_EXISTS',
  /** A consumer id that is not attached. */
  UnknownConsumer: 'FLUXMQ_ERR_QUEUE_UNKNOWN_CONSUMER',
  /** A delivery id the consumer does not hold (already settled, timed out, or never sent). */
  UnknownDelivery: 'FLUXMQ_ERR_QUEUE_UNKNOWN_DELIVERY',
  /** Credit that is not a non-negative integer. */
  InvalidCredit: 'FLUXMQ_ERR_QUEUE_INVALID_CREDIT',
  /** The queue database cannot be opened (permissions, damaged file, another process holds it, foreign file). */
  Open: 'FLUXMQ_ERR_QUEUE_OPEN',
  /** A group commit failed: what it held is lost and the engine refuses further work. */
  Commit: 'FLUXMQ_ERR_QUEUE_COMMIT',
  /** Used after close() or after a failed commit. */
  Closed: 'FLUXMQ_ERR_QUEUE_CLOSED',
} as const
export type QueueErrorCode = (typeof QueueErrorCode)[keyof typeof QueueErrorCode]

const REASONS: Record<QueueErrorCode, Refusal> = {
  [QueueErrorCode.InvalidName]: Refusal.TopicInvalid,
  [QueueErrorCode.ReservedTopic]: Refusal.TopicInvalid,
  [QueueErrorCode.InvalidGroup]: Refusal.Refused,
  [QueueErrorCode.InvalidDefinition]: Refusal.Refused,
  [QueueErrorCode.InvalidFilter]: Refusal.TopicInvalid,
  [QueueErrorCode.InvalidMessageId]: Refusal.PayloadInvalid,
  [QueueErrorCode.UnknownMessage]: Refusal.NotFound,
  [QueueErrorCode.WrongGroup]: Refusal.NotAuthorized,
  [QueueErrorCode.BadCursor]: Refusal.Refused,
  [QueueErrorCode.ConsumerExists]: Refusal.Refused,
  [QueueErrorCode.UnknownConsumer]: Refusal.Refused,
  [QueueErrorCode.UnknownDelivery]: Refusal.NotFound,
  [QueueErrorCode.InvalidCredit]: Refusal.Refused,
  [QueueErrorCode.Open]: Refusal.ServerUnavailable,
  [QueueErrorCode.Commit]: Refusal.ServerUnavailable,
  [QueueErrorCode.Closed]: Refusal.ServerUnavailable,
}

/** A typed queue error: `code` is stable for programs, `reason` is what a protocol adapter answers with. */
export class QueueError extends Error {
  override readonly name = 'QueueError'
  readonly reason: Refusal

  constructor(
    readonly code: QueueErrorCode,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(`${code}: ${message}`, options.cause === undefined ? undefined : { cause: options.cause })
    this.reason = REASONS[code]
  }
}
