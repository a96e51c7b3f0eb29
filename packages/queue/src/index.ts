export { QueueEngine, DEFAULT_GROUP } from './engine.js'
export type { QueueEngineOptions, AttachOptions, SettleMessageOptions, PublishResult } from './engine.js'
export type { Outcome, QueueDelivery } from './delivery.js'
export { DeliveryProperty, DeadLetterProperty } from './delivery.js'
export { DEFAULT_QUEUE_SETTINGS, defineQueue } from './definition.js'
export type { QueueType, RetentionLimits, QueueDefinition, QueueDeclaration } from './definition.js'
export { parseCursor } from './cursor.js'
export type { Cursor } from './cursor.js'
export {
  QUEUE_TOPIC_PREFIX,
  DLQ_PREFIX,
  checkQueueName,
  checkGroupName,
  groupIdOf,
  deadLetterQueueOf,
  queueOfTopic,
  settlementOfTopic,
  formatMessageId,
  parseMessageId,
} from './names.js'
export { QueueError, QueueErrorCode } from './errors.js'
export { QUEUE_DATABASE_FILE } from './sqlite/database.js'
export type { SyncMode } from './sqlite/database.js'
export type { QueueStats, GroupStats, ConsumerStats } from './stats.js'
export type { QueueCounters } from './queue-state.js'
export type { Schedule } from '@fluxmq/storage/internal'
