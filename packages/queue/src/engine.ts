import type Database from 'better-sqlite3'
import type { Clock, Logger, Message, QueueAttach } from '@fluxmq/core'
import { GroupCommit, type Schedule, type StagedOp } from '@fluxmq/storage/internal'
import { TopicCapture } from './capture.js'
import { type Cursor, parseCursor } from './cursor.js'
import { type QueueDeclaration, type QueueDefinition, defineQueue } from './definition.js'
import { type Outcome, type QueueDelivery, deadLetterMessage, deliveredMessage } from './delivery.js'
import { QueueError, QueueErrorCode } from './errors.js'
import { Consumer, ConsumerGroup, type PendingEntry } from './group.js'
import {
  checkQueueName,
  deadLetterQueueOf,
  filterOfGroupId,
  formatMessageId,
  groupIdOf,
  isDeadLetterQueue,
  parseMessageId,
  queueOfTopic,
  routingKeyMatches,
  splitMessageId,
} from './names.js'
import { QueueState } from './queue-state.js'
import { type SyncMode, openQueueDatabase } from './sqlite/database.js'
import { type LogEntry, QueueStore, messageSize } from './sqlite/queue-store.js'
import { type QueueStats, queueStats } from './stats.js'

export const DEFAULT_GROUP = 'default'

export interface QueueEngineOptions {
  /** The storage directory; the engine keeps `<dir>/queues.db`. */
  readonly dir: string
  readonly sync?: SyncMode
  readonly clock: Clock
  readonly logger?: Logger
  /** The effect port: every delivery goes out through it, synchronously, under the consumer's credit. */
  readonly deliver: (delivery: QueueDelivery) => void
  /** Config-declared queues; their definitions replace stored ones. */
  readonly queues?: readonly QueueDeclaration[]
  /** Settings of queues created on first use (defaults: SPEC §2). */
  readonly defaults?: Partial<Omit<QueueDefinition, 'name'>>
  /** Nack redelivery waits initialMs × 2^(delivery count − 1), at most maxMs. */
  readonly nackBackoff?: { readonly initialMs: number; readonly maxMs: number }
  /** When a turn's writes commit; setImmediate unless a test drives it. */
  readonly schedule?: Schedule
  /** Bytes of each queue's newest messages kept in memory for consumers that keep up (0 = none). */
  readonly recentBytesPerQueue?: number
}

/**
 * The core's QueueAttach: consumer id, queue, group, stream cursor, routing-key `filter` (the
 * consumer joins the group `<group>@<filter>`, see names.ts groupIdOf) and `window` (credit comes
 * back by itself once a delivery is no longer held; without it only grant() gives it back).
 */
export type AttachOptions = QueueAttach

export interface SettleMessageOptions {
  /** `<queue>:<offset>`, as the delivery's `message-id` property carried it. */
  readonly messageId: string
  /** The group id, as the delivery's `group-id` property carried it (`<group>@<filter>` for a filtering group). */
  readonly group: string
  readonly outcome: Outcome
  readonly reason?: string
}

export interface PublishResult {
  /** The queues the message was appended to, with its offset in each. */
  readonly appended: readonly { readonly queue: string; readonly offset: number }[]
  /** Resolves once every append is committed (per storage.sync); what a PUBACK waits for. */
  readonly durable: Promise<void>
}

const RESOLVED = Promise.resolve()
/** Messages read from the log per query; bounded by the group's credit too. */
const READ_BATCH = 128
const DEFAULT_BACKOFF = { initialMs: 1000, maxMs: 60_000 }
const DEFAULT_RECENT_BYTES = 4 * 1024 * 1024

/**
 * The durable queue engine as a state machine. Events in: publish/append, attach, grant credit,
 * settle, detach, tick(now). Effects out: deliveries through the `deliver` port (never beyond a
 * consumer's credit) and durable promises for appends. It arms no timers: the host calls tick()
 * (visibility timeouts, nack backoff, retention) and the clock is injected. Writes of one
 * event-loop turn commit in one SQLite transaction; appended messages are delivered only after
 * that commit.
 */
export class QueueEngine {
  private readonly queues = new Map<string, QueueState>()
  private readonly consumers = new Map<string, Consumer>()
  private readonly capture = new TopicCapture()
  private readonly batch: GroupCommit
  private readonly defaults: Omit<QueueDefinition, 'name'>
  private readonly backoff: { readonly initialMs: number; readonly maxMs: number }
  private readonly clock: Clock
  private readonly logger: Logger | undefined
  private readonly deliver: (delivery: QueueDelivery) => void
  /** Groups whose floor or delivered-to mark must be written by the next commit. */
  private readonly dirtyGroups = new Map<ConsumerGroup, QueueState>()
  /** Per queue, the current batch's appends. */
  private appendedThisBatch = new Map<QueueState, LogEntry[]>()
  private readonly recentBytes: number
  /** Groups to pump once the pump that is running returns (a delivery callback re-entered). */
  private readonly pumpAgain = new Map<ConsumerGroup, QueueState>()
  private pumping = false
  private closed = false

  private constructor(
    private readonly db: Database.Database,
    private readonly store: QueueStore,
    options: QueueEngineOptions,
  ) {
    this.clock = options.clock
    this.logger = options.logger?.child({ component: 'queue' })
    this.deliver = options.deliver
    this.backoff = options.nackBackoff ?? DEFAULT_BACKOFF
    this.recentBytes = options.recentBytesPerQueue ?? DEFAULT_RECENT_BYTES
    const { name: _name, ...defaults } = defineQueue({ name: 'defaults', ...options.defaults })
    this.defaults = defaults
    const commit = db.transaction((writes: readonly StagedOp[]) => {
      for (const write of writes) write()
      this.saveDirtyGroups()
    })
    // The session store's group commit: one transaction per event-loop turn; appends are revealed after it.
    this.batch = new GroupCommit(
      commit,
      (cause) => new QueueError(QueueErrorCode.Commit, `queue commit failed, the engine stops: ${cause instanceof Error ? cause.message : String(cause)}`, { cause }),
      (failure) => this.logger?.error({ err: failure }, 'queue commit failed'),
      options.schedule,
    )
  }

  /** Opens `<dir>/queues.db`, loads queues and groups (not messages), declares the configured queues. */
  static open(options: QueueEngineOptions): QueueEngine {
    const declared = (options.queues ?? []).map((declaration) => defineQueue(declaration))
    const { db } = openQueueDatabase(options.dir, options.sync ?? 'normal')
    try {
      const store = new QueueStore(db)
      const engine = new QueueEngine(db, store, options)
      engine.load()
      engine.undeclareAllBut(new Set(declared.map((definition) => definition.name)))
      for (const definition of declared) engine.declare(definition)
      return engine
    } catch (cause) {
      db.close()
      throw cause
    }
  }

  /** The error that stopped the engine (a failed commit), else undefined: for readiness checks. */
  get failure(): Error | undefined {
    return this.batch.failure
  }

  /** Creates or redefines a queue as configured. */
  declare(declaration: QueueDeclaration): QueueStats {
    this.checkOpen()
    const definition = defineQueue(declaration, this.defaults)
    const existing = this.queues.get(definition.name)
    const id = this.store.saveQueue(definition, true)
    if (existing === undefined) {
      this.queues.set(definition.name, new QueueState(id, definition, true, { firstOffset: 0, nextOffset: 0, bytes: 0 }, this.recentBytes))
    } else {
      if (existing.definition.type !== definition.type) {
        this.logger?.warn({ queue: definition.name, from: existing.definition.type, to: definition.type }, 'queue type changed by configuration')
      }
      existing.definition = definition
      existing.declared = true
    }
    this.capture.set(definition.name, definition.topics)
    return queueStats(this.queue(definition.name))
  }

  /** The queues whose `topics` capture an ordinary publish to `topic`. */
  captures(topic: string): string[] {
    return this.capture.match(topic)
  }

  /**
   * Appends a publish where SPEC §4 says: `$queue/<name>[/<key>]` to that queue (created on first
   * use), any other topic to every queue whose filters match it (possibly none). The message is
   * stored as given, its topic included. Throws InvalidName for `$queue/` with a bad name.
   */
  publish(topic: string, message: Message): PublishResult {
    this.checkOpen()
    const direct = queueOfTopic(topic)
    if (direct !== undefined) return { appended: [{ queue: direct, offset: this.appendTo(this.queueFor(direct), message) }], durable: this.batch.sync() }
    const names = this.capture.match(topic)
    if (names.length === 0) return { appended: [], durable: RESOLVED }
    const appended = names.map((queue) => ({ queue, offset: this.appendTo(this.queueFor(queue), message) }))
    return { appended, durable: this.batch.sync() }
  }

  /** Appends to `queue` (created on first use); `durable` resolves once it is committed. */
  append(queue: string, message: Message): { offset: number; durable: Promise<void> } {
    this.checkOpen()
    const offset = this.appendTo(this.queueFor(queue), message)
    return { offset, durable: this.batch.sync() }
  }

  /**
   * Adds a consumer to a group of a queue (both created on first use) with no credit. On a stream
   * queue a cursor positions a new group, or repositions one that has no members (a replay);
   * without one a new stream group starts at `last`, a new classic group at the oldest message.
   */
  attach(options: AttachOptions): void {
    this.checkOpen()
    if (this.consumers.has(options.consumerId)) {
      throw new QueueError(QueueErrorCode.ConsumerExists, `consumer ${options.consumerId} is already attached`)
    }
    const groupName = groupIdOf(options.group ?? DEFAULT_GROUP, options.filter)
    const cursor = options.cursor === undefined ? undefined : parseCursor(options.cursor)
    // Checked before the queue is created on first use, so that a refused attach leaves nothing behind.
    const type = this.queues.get(options.queue)?.definition.type ?? this.defaults.type
    if (cursor !== undefined && type !== 'stream') {
      throw new QueueError(QueueErrorCode.BadCursor, `queue ${options.queue} is a classic queue: cursors need a stream queue`)
    }
    const queue = this.queueFor(options.queue)
    let group = queue.groups.get(groupName)
    if (group === undefined) {
      const start = queue.definition.type === 'stream' ? this.cursorOffset(queue, cursor ?? { kind: 'last' }) : queue.firstOffset
      group = new ConsumerGroup(queue.name, groupName, start)
      queue.groups.set(groupName, group)
    } else if (cursor !== undefined && group.members.length === 0) {
      this.forget(group.moveTo(this.cursorOffset(queue, cursor), true))
      group.forgetStoredRows()
      const queueId = queue.id
      this.batch.stage(() => this.store.clearGroupEntries(queueId, groupName))
    }
    this.touch(queue, group)
    const consumer = new Consumer(options.consumerId, queue.name, group, options.window === true)
    group.members.push(consumer)
    this.consumers.set(consumer.id, consumer)
    this.logger?.debug({ consumerId: consumer.id, queue: queue.name, group: groupName }, 'queue consumer attached')
  }

  /** Gives a consumer `credit` more deliveries; each delivery uses one. */
  grant(consumerId: string, credit: number): void {
    this.checkOpen()
    if (!Number.isSafeInteger(credit) || credit < 0) throw new QueueError(QueueErrorCode.InvalidCredit, `credit ${credit} is not an integer >= 0`)
    const consumer = this.consumer(consumerId)
    consumer.credit += credit
    this.pump(this.queue(consumer.queue), consumer.group)
  }

  /** Settles one of the consumer's deliveries by its delivery id. */
  settle(consumerId: string, deliveryId: number, outcome: Outcome, reason?: string): void {
    this.checkOpen()
    const consumer = this.consumer(consumerId)
    const entry = consumer.deliveries.get(deliveryId)
    if (entry === undefined) {
      throw new QueueError(QueueErrorCode.UnknownDelivery, `consumer ${consumerId} holds no unsettled delivery ${deliveryId}`)
    }
    this.settleEntry(this.queue(consumer.queue), consumer.group, entry, outcome, reason)
  }

  /**
   * Settles a pending message by its message id and group (manual ack by `$ack`/`$nack`/`$reject`):
   * whoever sends it, even a consumer that reconnected after the delivery.
   */
  settleMessage(options: SettleMessageOptions): void {
    this.checkOpen()
    const { queue: name, offset } = splitMessageId(options.messageId)
    const queue = this.queues.get(name)
    // A queue that exists has a valid name; an unknown one is checked, for the right error.
    if (queue === undefined) parseMessageId(options.messageId)
    const group = queue?.groups.get(options.group)
    const entry = group?.pending.get(offset)
    if (queue === undefined || group === undefined || entry === undefined) {
      // Only checked on a miss: a group that exists has a valid id.
      filterOfGroupId(options.group)
      const heldElsewhere = queue !== undefined && [...queue.groups.values()].some((other) => other.pending.has(offset))
      if (heldElsewhere || (queue !== undefined && group === undefined)) {
        throw new QueueError(QueueErrorCode.WrongGroup, `group ${options.group} of queue ${name} does not hold message ${options.messageId}`)
      }
      throw new QueueError(QueueErrorCode.UnknownMessage, `message ${options.messageId} is not pending in group ${options.group}`)
    }
    this.settleEntry(queue, group, entry, options.outcome, options.reason)
  }

  /**
   * Removes a consumer. Its unsettled deliveries stay pending until their visibility timeout
   * (a client that reconnects can still settle them by message id), or return at once with
   * `release` (they count as released: not against max_deliveries).
   */
  detach(consumerId: string, options: { release?: boolean } = {}): void {
    this.checkOpen()
    const consumer = this.consumer(consumerId)
    const queue = this.queue(consumer.queue)
    consumer.group.removeMember(consumer)
    this.consumers.delete(consumerId)
    const entries = [...consumer.deliveries.values()]
    consumer.deliveries.clear()
    for (const entry of entries) entry.consumer = undefined
    if (options.release === true) {
      for (const entry of entries) this.settleEntry(queue, consumer.group, entry, 'released')
    }
    this.logger?.debug({ consumerId, queue: queue.name, group: consumer.group.name, unsettled: entries.length }, 'queue consumer detached')
  }

  /** Time passes: visibility timeouts, nack backoff and retention (max_age and the other bounds). */
  tick(now: number = this.clock.now()): void {
    this.checkOpen()
    for (const queue of this.queues.values()) {
      for (const group of queue.groups.values()) {
        const expired = [...group.pending.values()].filter((entry) => entry.deadline <= now)
        for (const entry of expired) {
          group.pending.delete(entry.offset)
          this.unhold(entry)
          queue.counters.timeouts += 1
          this.failed(queue, group, entry.offset, entry.deliveryCount, now, undefined)
        }
      }
      this.applyRetention(queue, now)
      for (const group of queue.groups.values()) this.pump(queue, group)
    }
  }

  stats(queue: string): QueueStats | undefined {
    const state = this.queues.get(queue)
    return state === undefined ? undefined : queueStats(state)
  }

  list(): QueueStats[] {
    return [...this.queues.values()].map(queueStats)
  }

  /** Resolves once everything staged so far is committed (acks included). */
  durable(): Promise<void> {
    return this.batch.sync()
  }

  /** Commits what is staged now instead of at the end of the turn. */
  flush(): void {
    this.checkOpen()
    this.batch.flush()
  }

  /** Commits what is staged and closes the file; later calls throw Closed. */
  close(): void {
    if (this.closed) return
    this.closed = true
    try {
      if (this.batch.failure === undefined) this.batch.flush()
    } finally {
      this.db.close()
    }
  }

  private load(): void {
    for (const stored of this.store.loadQueues()) {
      const queue = new QueueState(stored.id, stored.definition, stored.declared, stored, this.recentBytes)
      this.queues.set(queue.name, queue)
      this.capture.set(queue.name, stored.definition.topics)
      for (const group of this.store.loadGroups(stored.id)) {
        queue.groups.set(group.name, new ConsumerGroup(queue.name, group.name, group.floor, group))
      }
    }
  }

  /**
   * Queues declared by an earlier configuration and absent from this one keep their messages and
   * groups but no longer capture topics: they become queues as if created on first use.
   */
  private undeclareAllBut(names: ReadonlySet<string>): void {
    for (const queue of this.queues.values()) {
      if (!queue.declared || names.has(queue.name)) continue
      queue.definition = { ...queue.definition, topics: [] }
      queue.declared = false
      this.store.saveQueue(queue.definition, false)
      this.capture.set(queue.name, [])
      this.logger?.info({ queue: queue.name, depth: queue.visibleNext - queue.firstOffset }, 'queue no longer configured: kept, captures no topics')
    }
  }

  private queue(name: string): QueueState {
    return this.queues.get(name) as QueueState
  }

  private consumer(consumerId: string): Consumer {
    const consumer = this.consumers.get(consumerId)
    if (consumer === undefined) throw new QueueError(QueueErrorCode.UnknownConsumer, `consumer ${consumerId} is not attached`)
    return consumer
  }

  /** The queue named `name`, created with the first-use defaults if it does not exist. */
  private queueFor(name: string, like?: QueueState): QueueState {
    const existing = this.queues.get(name)
    if (existing !== undefined) return existing
    checkQueueName(name)
    // A dead-letter queue keeps its source's retention and never captures topics.
    const definition = defineQueue(like === undefined ? { name } : { name, type: 'classic', topics: [], retention: like.definition.retention }, this.defaults)
    const queue = new QueueState(this.store.saveQueue(definition, false), definition, false, { firstOffset: 0, nextOffset: 0, bytes: 0 }, this.recentBytes)
    this.queues.set(name, queue)
    this.logger?.info({ queue: name, type: definition.type }, 'queue created on first use')
    return queue
  }

  private appendTo(queue: QueueState, message: Message): number {
    const offset = queue.nextOffset
    queue.nextOffset += 1
    queue.counters.appended += 1
    let appended = this.appendedThisBatch.get(queue)
    if (appended === undefined) {
      // One write per queue and commit inserts all of the batch's appends to it, those staged later in the turn included.
      const entries: LogEntry[] = (appended = [])
      const queueId = queue.id
      const first = this.appendedThisBatch.size === 0
      this.appendedThisBatch.set(queue, entries)
      this.batch.stage(() => this.store.insertMessages(queueId, entries), first ? this.reveal : undefined)
    }
    appended.push({ offset, message })
    return offset
  }

  /** After a commit: its appends become visible and their queues' groups are pumped. */
  private readonly reveal = (): void => {
    const appended = this.appendedThisBatch
    this.appendedThisBatch = new Map()
    for (const [queue, entries] of appended) {
      for (const { offset, message } of entries) {
        queue.bytes += messageSize(message)
        queue.recent.add(offset, message)
      }
      queue.visibleNext = (entries[entries.length - 1] as LogEntry).offset + 1
    }
    for (const queue of appended.keys()) {
      for (const group of queue.groups.values()) this.pump(queue, group)
      this.forgetDelivered(queue)
    }
  }

  /**
   * Drops from memory the recent messages every group has been handed once: a redelivery reads
   * the log. Kept until truncation instead, a busy queue's messages outlived the young
   * generation and the garbage collector copied and promoted each of them.
   */
  private forgetDelivered(queue: QueueState): void {
    let lowest = queue.visibleNext
    for (const group of queue.groups.values()) lowest = Math.min(lowest, group.nextOffset)
    if (queue.groups.size > 0) queue.recent.dropBelow(lowest)
  }

  private cursorOffset(queue: QueueState, cursor: Cursor): number {
    const clamp = (offset: number): number => Math.min(Math.max(offset, queue.firstOffset), queue.visibleNext)
    switch (cursor.kind) {
      case 'first':
        return queue.firstOffset
      case 'last':
        return clamp(queue.visibleNext - 1)
      case 'offset':
        return clamp(cursor.offset)
      case 'timestamp':
        return clamp(this.store.firstPublishedAtOrAfter(queue.id, queue.firstOffset, queue.visibleNext, cursor.at) ?? queue.visibleNext)
    }
  }

  /** Delivers to the group's members while they have credit and it has messages. */
  private pump(queue: QueueState, group: ConsumerGroup): void {
    if (this.pumping) {
      this.pumpAgain.set(group, queue)
      return
    }
    this.pumping = true
    try {
      this.deliverAvailable(queue, group)
      for (const [again, itsQueue] of this.pumpAgain) {
        this.pumpAgain.delete(again)
        this.deliverAvailable(itsQueue, again)
      }
    } finally {
      this.pumping = false
    }
  }

  private deliverAvailable(queue: QueueState, group: ConsumerGroup): void {
    // Read once there is credit to use: most pumps (a settlement, a grant of none) have none.
    let now: number | undefined
    for (;;) {
      const credit = group.credit
      if (credit === 0) break
      now ??= this.clock.now()
      const due = group.waiting.length === 0 ? undefined : group.takeDue(now)
      if (due !== undefined) {
        const entry = this.readAt(queue, due.offset)
        if (entry !== undefined) this.offer(queue, group, entry.offset, entry.message, due.deliveryCount + 1, now)
        continue
      }
      group.advanceTo(queue.firstOffset)
      const offset = group.nextOffset
      if (offset >= queue.visibleNext) break
      // A consumer that keeps up is fed from memory, one message at a time: no entry objects.
      const recent = queue.recent.get(offset)
      if (recent !== undefined) {
        this.consider(queue, group, offset, recent, now)
        continue
      }
      // A filtering group may skip most of what it reads: it reads whole batches.
      const entries = this.store.readFrom(queue.id, offset, queue.visibleNext, group.filter === undefined ? Math.min(credit, READ_BATCH) : READ_BATCH)
      for (const entry of entries) {
        if (group.credit === 0 && !group.isSettled(entry.offset)) break
        this.consider(queue, group, entry.offset, entry.message, now)
      }
      // Offsets truncated under the reader leave nothing to read before visibleNext.
      if (entries.length === 0) group.advanceTo(queue.visibleNext)
    }
    this.touch(queue, group)
  }

  /** The group's next offset, read: skipped if settled or not for its filter, else offered. */
  private consider(queue: QueueState, group: ConsumerGroup, offset: number, message: Message, now: number): void {
    group.advanceTo(offset + 1)
    if (group.isSettled(offset)) return
    // Not for this group: settled for it, as if acknowledged, so the floor and truncation move on.
    if (group.filter !== undefined && !routingKeyMatches(group.filter, message.topic)) this.markSettled(queue, group, offset)
    else this.offer(queue, group, offset, message, group.deliveriesBefore(offset) + 1, now)
  }

  private readAt(queue: QueueState, offset: number): LogEntry | undefined {
    const message = queue.recent.get(offset)
    return message === undefined ? this.store.readAt(queue.id, offset) : { offset, message }
  }

  /** Delivers the message at `offset` to the next member with credit, or settles it if it expired. */
  private offer(queue: QueueState, group: ConsumerGroup, offset: number, stored: Message, deliveryCount: number, now: number): void {
    const { expiresAt } = stored
    if (expiresAt !== undefined && expiresAt <= now) {
      queue.counters.expired += 1
      this.markSettled(queue, group, offset)
      return
    }
    // deliverAvailable only offers with credit available, so a member exists.
    const member = group.nextMember() as Consumer
    const deliveryId = member.nextDeliveryId()
    const pending: PendingEntry = { offset, consumer: member, deliveryId, deliveryCount, deadline: now + queue.definition.visibilityTimeoutMs }
    member.credit -= 1
    member.deliveries.set(deliveryId, pending)
    group.pending.set(offset, pending)
    queue.counters.deliveries += 1
    if (deliveryCount > 1) {
      queue.counters.redeliveries += 1
      // Only repeated deliveries are counted on disk; a first one is implied by delivered_to.
      const queueId = queue.id
      group.noteStoredRow(offset)
      this.batch.stage(() => this.store.saveDeliveries(queueId, group.name, offset, deliveryCount))
    }
    const messageId = formatMessageId(queue.name, offset)
    const message = deliveredMessage(stored, group.labels, offset, deliveryCount, messageId)
    this.deliver({ consumerId: member.id, deliveryId, queue: queue.name, group: group.name, offset, messageId, deliveryCount, message })
  }

  private settleEntry(queue: QueueState, group: ConsumerGroup, entry: PendingEntry, outcome: Outcome, reason?: string): void {
    group.pending.delete(entry.offset)
    this.unhold(entry)
    switch (outcome) {
      case 'accepted':
        queue.counters.acks += 1
        this.markSettled(queue, group, entry.offset)
        break
      case 'released':
        queue.counters.nacks += 1
        group.addWaiting({ offset: entry.offset, deliveryCount: entry.deliveryCount - 1, notBefore: this.clock.now() })
        break
      case 'modified': {
        queue.counters.nacks += 1
        const wait = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** (entry.deliveryCount - 1))
        this.failed(queue, group, entry.offset, entry.deliveryCount, this.clock.now() + wait, reason)
        break
      }
      case 'rejected':
        this.deadLetter(queue, group, entry.offset, entry.deliveryCount, 'rejected', reason)
        break
    }
    this.pump(queue, group)
  }

  /** A counted failure (nack, timeout): dead-letter at max_deliveries, else wait for redelivery. */
  private failed(queue: QueueState, group: ConsumerGroup, offset: number, deliveryCount: number, notBefore: number, reason: string | undefined): void {
    // A dead-letter queue has no dead-letter queue: its messages are redelivered until settled.
    if (!isDeadLetterQueue(queue.name) && deliveryCount >= queue.definition.maxDeliveries) {
      this.deadLetter(queue, group, offset, deliveryCount, 'max-deliveries', reason)
    } else {
      group.addWaiting({ offset, deliveryCount, notBefore })
    }
  }

  /** Moves a message to `$dlq/<queue>` and settles it for the group, in one commit. */
  private deadLetter(queue: QueueState, group: ConsumerGroup, offset: number, deliveryCount: number, cause: 'rejected' | 'max-deliveries', reason: string | undefined): void {
    const entry = this.readAt(queue, offset)
    const at = this.clock.now()
    if (isDeadLetterQueue(queue.name)) {
      this.logger?.warn({ queue: queue.name, group: group.name, offset, cause }, 'dead letter rejected: dropped')
    } else if (entry !== undefined) {
      const deadLetters = this.queueFor(deadLetterQueueOf(queue.name), queue)
      const history = { queue: queue.name, group: group.name, offset, deliveryCount, cause, at, ...(reason === undefined ? {} : { reason }) }
      const dlqOffset = this.appendTo(deadLetters, deadLetterMessage(entry.message, history))
      queue.counters.deadLettered += 1
      this.logger?.info({ queue: queue.name, group: group.name, offset, deliveryCount, cause, dlqOffset }, 'queue message dead-lettered')
    }
    this.markSettled(queue, group, offset)
  }

  private markSettled(queue: QueueState, group: ConsumerGroup, offset: number): void {
    group.settle(offset)
    this.touch(queue, group)
  }

  /**
   * Truncates the head of the log: on a classic queue what every group has settled, on any queue
   * what the retention limits exclude. Groups behind the new head skip what was cut.
   */
  private applyRetention(queue: QueueState, now: number): void {
    let bound = queue.firstOffset
    if (queue.definition.type === 'classic' && queue.groups.size > 0) {
      bound = Math.max(bound, Math.min(...[...queue.groups.values()].map((group) => group.floor)))
    }
    const { maxMessages, maxAgeMs, maxBytes } = queue.definition.retention
    if (maxMessages > 0) bound = Math.max(bound, queue.visibleNext - maxMessages)
    if (maxAgeMs > 0) bound = Math.max(bound, this.store.firstPublishedAtOrAfter(queue.id, queue.firstOffset, queue.visibleNext, now - maxAgeMs) ?? queue.visibleNext)
    if (maxBytes > 0 && queue.bytes > maxBytes) bound = Math.max(bound, this.store.offsetKeepingBytes(queue.id, queue.firstOffset, queue.bytes, maxBytes))
    bound = Math.min(bound, queue.visibleNext)
    if (bound <= queue.firstOffset) return
    const removed = this.store.sizeBelow(queue.id, bound)
    const queueId = queue.id
    this.batch.stage(() => this.store.truncate(queueId, bound))
    queue.firstOffset = bound
    queue.recent.dropBelow(bound)
    queue.bytes -= removed.bytes
    queue.counters.truncated += removed.count
    for (const group of queue.groups.values()) {
      if (group.floor < bound) {
        this.forget(group.moveTo(bound, false))
        this.touch(queue, group)
      }
    }
    this.logger?.debug({ queue: queue.name, firstOffset: bound, removed: removed.count }, 'queue truncated')
  }

  /** Pending entries a group dropped (retention, cursor): their consumers no longer hold them. */
  private forget(entries: readonly PendingEntry[]): void {
    for (const entry of entries) this.unhold(entry)
  }

  /** The entry's consumer no longer holds it; a window consumer gets its credit back (the caller pumps). */
  private unhold(entry: PendingEntry): void {
    const consumer = entry.consumer
    if (consumer === undefined) return
    consumer.deliveries.delete(entry.deliveryId)
    entry.consumer = undefined
    if (consumer.window) consumer.credit += 1
  }

  /** Makes sure the next commit writes the group's floor and delivered-to mark. */
  private touch(queue: QueueState, group: ConsumerGroup): void {
    if (!group.dirty || this.dirtyGroups.has(group)) return
    this.dirtyGroups.set(group, queue)
    // An empty write, so that a batch exists to write the group even when nothing else is staged.
    this.batch.stage(() => undefined)
  }

  /** Runs last in every commit: each changed group's floor and marks, and what it settled above its floor. */
  private saveDirtyGroups(): void {
    for (const [group, queue] of this.dirtyGroups) {
      this.store.saveGroup(queue.id, group.name, group.floor, group.deliveredTo)
      if (group.takeRowsBelowFloor()) this.store.deleteBelowFloor(queue.id, group.name, group.floor)
      const settled = group.takeUnsaved()
      if (settled.length > 0) group.noteStoredRow(this.store.saveSettled(queue.id, group.name, settled))
      group.dirty = false
    }
    this.dirtyGroups.clear()
  }

  private checkOpen(): void {
    if (this.closed) throw new QueueError(QueueErrorCode.Closed, 'the queue engine is closed')
    const failure = this.batch.failure
    if (failure !== undefined) throw failure
  }
}
