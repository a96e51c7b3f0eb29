import type { QueueDefinition } from './definition.js'
import type { ConsumerGroup } from './group.js'
import { RecentMessages } from './recent-messages.js'

/** Counters of one queue since the engine opened. */
export interface QueueCounters {
  appended: number
  /** Every delivery, first and repeated. */
  deliveries: number
  redeliveries: number
  acks: number
  /** Nacks: `modified` and `released` outcomes. */
  nacks: number
  /** Deliveries whose visibility timeout ran out. */
  timeouts: number
  /** Messages moved to the dead-letter queue (rejected, or max_deliveries reached). */
  deadLettered: number
  /** Messages a group skipped because their expiry had passed. */
  expired: number
  /** Messages removed from the head of the log by retention. */
  truncated: number
}

/** One queue as the engine holds it: bounds of its log on disk, its groups, its counters. */
export class QueueState {
  /** Offsets below it were truncated. */
  firstOffset: number
  /** The next offset an append gets. */
  nextOffset: number
  /** One past the last committed offset: what consumers may see. */
  visibleNext: number
  /** Bytes (messageSize) of the committed messages. */
  bytes: number
  readonly groups = new Map<string, ConsumerGroup>()
  readonly recent: RecentMessages
  readonly counters: QueueCounters = {
    appended: 0,
    deliveries: 0,
    redeliveries: 0,
    acks: 0,
    nacks: 0,
    timeouts: 0,
    deadLettered: 0,
    expired: 0,
    truncated: 0,
  }

  constructor(
    readonly id: number,
    public definition: QueueDefinition,
    public declared: boolean,
    bounds: { firstOffset: number; nextOffset: number; bytes: number },
    recentBytes: number,
  ) {
    this.recent = new RecentMessages(recentBytes)
    this.firstOffset = bounds.firstOffset
    this.nextOffset = bounds.nextOffset
    this.visibleNext = bounds.nextOffset
    this.bytes = bounds.bytes
  }

  get name(): string {
    return this.definition.name
  }
}
