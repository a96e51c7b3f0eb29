import type { QueueType } from './definition.js'
import type { ConsumerGroup } from './group.js'
import type { QueueCounters, QueueState } from './queue-state.js'

export interface ConsumerStats {
  readonly id: string
  readonly credit: number
  readonly unsettled: number
}

export interface GroupStats {
  readonly name: string
  /** Every offset below it is settled; what a restart resumes from. */
  readonly committedOffset: number
  /** The next offset delivered for the first time. */
  readonly nextOffset: number
  /** Delivered and not settled (the pending-entry list). */
  readonly pending: number
  /** Not delivered yet: new messages plus messages waiting for redelivery. */
  readonly backlog: number
  readonly consumers: readonly ConsumerStats[]
}

export interface QueueStats {
  readonly name: string
  readonly type: QueueType
  /** Declared in config (true) or created on first use. */
  readonly declared: boolean
  /** Messages in the log (committed, not truncated). */
  readonly depth: number
  readonly bytes: number
  readonly firstOffset: number
  /** One past the last committed offset. */
  readonly nextOffset: number
  /** Sum of the groups' pending entries. */
  readonly pending: number
  readonly groups: readonly GroupStats[]
  readonly counters: Readonly<QueueCounters>
}

export function queueStats(queue: QueueState): QueueStats {
  const groups = [...queue.groups.values()].map((group) => groupStats(queue, group))
  return {
    name: queue.name,
    type: queue.definition.type,
    declared: queue.declared,
    depth: queue.visibleNext - queue.firstOffset,
    bytes: queue.bytes,
    firstOffset: queue.firstOffset,
    nextOffset: queue.visibleNext,
    pending: groups.reduce((sum, group) => sum + group.pending, 0),
    groups,
    counters: { ...queue.counters },
  }
}

function groupStats(queue: QueueState, group: ConsumerGroup): GroupStats {
  return {
    name: group.name,
    committedOffset: group.floor,
    nextOffset: group.nextOffset,
    pending: group.pending.size,
    backlog: Math.max(0, queue.visibleNext - Math.max(group.nextOffset, queue.firstOffset)) + group.waiting.length,
    consumers: group.members.map((member) => ({ id: member.id, credit: member.credit, unsettled: member.deliveries.size })),
  }
}
