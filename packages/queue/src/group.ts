import { DeliveryLabels } from './delivery.js'
import { filterOfGroupId } from './names.js'
import type { StoredGroup } from './sqlite/queue-store.js'

/** A delivered, unsettled message of one group: one row of its pending-entry list. */
export interface PendingEntry {
  readonly offset: number
  /** Undefined once the consumer detached: the entry waits for its deadline or a settlement by message id. */
  consumer: Consumer | undefined
  readonly deliveryId: number
  /** Counted deliveries so far, this one included. */
  deliveryCount: number
  /** When the visibility timeout returns it for redelivery. */
  readonly deadline: number
}

/** A message waiting for redelivery (nacked, released or timed out). */
export interface WaitingEntry {
  readonly offset: number
  /** Counted deliveries so far; the next delivery adds one. */
  readonly deliveryCount: number
  readonly notBefore: number
}

/** One attached consumer: a member of one group of one queue. */
export class Consumer {
  credit = 0
  /** Unsettled deliveries by delivery id. */
  readonly deliveries = new Map<number, PendingEntry>()
  private lastDeliveryId = 0

  constructor(
    readonly id: string,
    readonly queue: string,
    readonly group: ConsumerGroup,
    /** Credit comes back by itself when a delivery stops being held (see AttachOptions.window). */
    readonly window: boolean,
  ) {}

  /** The next 32-bit delivery id not held by an unsettled delivery. */
  nextDeliveryId(): number {
    do this.lastDeliveryId = (this.lastDeliveryId + 1) >>> 0
    while (this.lastDeliveryId === 0 || this.deliveries.has(this.lastDeliveryId))
    return this.lastDeliveryId
  }
}

/**
 * A consumer group of one queue: where it reads, what it has settled, its pending-entry list,
 * what waits for redelivery, and its members. Only positions and small per-offset records live
 * here; messages stay in the log.
 */
export class ConsumerGroup {
  /** Every offset below it is settled (acked, dead-lettered, expired or truncated): the committed offset. */
  floor: number
  /** The next offset to deliver for the first time. */
  nextOffset: number
  /** Settled offsets at or above the floor (acks out of order). */
  private readonly settledAbove = new Set<number>()
  /** Offsets settled above the floor since the last commit: saved by it unless the floor passed them first. */
  private unsaved: number[] = []
  /** From the last run: offsets below it were delivered at least once before the restart. */
  private deliveredBeforeRestart: number
  /** From the last run: counted deliveries of offsets delivered more than once. */
  private readonly restoredCounts: Map<number, number>
  readonly pending = new Map<number, PendingEntry>()
  /** Sorted by offset, so the oldest message waiting is redelivered first. */
  readonly waiting: WaitingEntry[] = []
  readonly members: Consumer[] = []
  private nextMemberIndex = 0
  /** Its floor or delivered-to mark changed since the last commit. */
  dirty = true
  /**
   * Keys of its `group_acks` and `group_entries` rows on disk (or being written), ascending, so
   * that a commit deletes rows only when the floor has passed one: two statements per commit
   * otherwise, which nearly always deleted nothing.
   */
  private readonly storedKeys: number[] = []
  /** The routing-key filter its id carries; undefined: it takes every message. */
  readonly filter: string | undefined
  readonly labels: DeliveryLabels

  constructor(
    queue: string,
    /** The group id: its name, with `@<filter>` when it filters (names.ts groupIdOf). */
    readonly name: string,
    start: number,
    stored?: StoredGroup,
  ) {
    this.filter = filterOfGroupId(name)
    this.labels = new DeliveryLabels(queue, name)
    this.floor = stored?.floor ?? start
    // After a restart every unsettled offset from the floor on is delivered again.
    this.nextOffset = this.floor
    this.deliveredBeforeRestart = stored?.deliveredTo ?? start
    this.restoredCounts = new Map(stored?.deliveries ?? [])
    for (const offset of stored?.settled ?? []) this.settledAbove.add(offset)
    for (const key of stored?.rowKeys ?? []) this.noteStoredRow(key)
    if (stored !== undefined) this.dirty = false
  }

  /** A row keyed `key` is written for the group (by the commit running or the next one). */
  noteStoredRow(key: number): void {
    let i = this.storedKeys.length
    while (i > 0 && (this.storedKeys[i - 1] as number) > key) i--
    this.storedKeys.splice(i, 0, key)
  }

  /** Whether rows keyed below the floor are on disk; they are forgotten, as the caller deletes them now. */
  takeRowsBelowFloor(): boolean {
    let below = 0
    while (below < this.storedKeys.length && (this.storedKeys[below] as number) < this.floor) below++
    if (below === 0) return false
    this.storedKeys.splice(0, below)
    return true
  }

  /** Every row of the group is deleted (a cursor repositioned it). */
  forgetStoredRows(): void {
    this.storedKeys.length = 0
  }

  /** Where the delivered-to mark stands: the higher of this run's position and the last run's. */
  get deliveredTo(): number {
    return Math.max(this.nextOffset, this.deliveredBeforeRestart)
  }

  isSettled(offset: number): boolean {
    return offset < this.floor || this.settledAbove.has(offset)
  }

  /** Marks `offset` settled; the group is then dirty (its floor moved, or the offset waits to be saved). */
  settle(offset: number): void {
    this.dirty = true
    if (offset !== this.floor) {
      this.settledAbove.add(offset)
      this.unsaved.push(offset)
      return
    }
    this.floor += 1
    while (this.settledAbove.delete(this.floor)) this.floor += 1
  }

  /**
   * The offsets settled above the floor since the last call that are still above it, for the
   * commit to save: acks out of order that the floor overtook within one turn never reach the disk.
   */
  takeUnsaved(): number[] {
    const unsaved = this.unsaved.filter((offset) => this.settledAbove.has(offset))
    this.unsaved = []
    return unsaved
  }

  /** Counted deliveries of `offset` before its first delivery in this run (0 for a new message). */
  deliveriesBefore(offset: number): number {
    const restored = this.restoredCounts.get(offset)
    if (restored !== undefined) {
      this.restoredCounts.delete(offset)
      return restored
    }
    return offset < this.deliveredBeforeRestart ? 1 : 0
  }

  advanceTo(offset: number): void {
    if (offset > this.nextOffset) {
      this.nextOffset = offset
      this.dirty = true
    }
  }

  /** The credit of all members together. */
  get credit(): number {
    let credit = 0
    for (const member of this.members) credit += member.credit
    return credit
  }

  /** The next member with credit, round-robin. */
  nextMember(): Consumer | undefined {
    const count = this.members.length
    for (let i = 0; i < count; i++) {
      const member = this.members[(this.nextMemberIndex + i) % count] as Consumer
      if (member.credit > 0) {
        this.nextMemberIndex = (this.nextMemberIndex + i + 1) % count
        return member
      }
    }
    return undefined
  }

  removeMember(consumer: Consumer): void {
    const index = this.members.indexOf(consumer)
    if (index === -1) return
    this.members.splice(index, 1)
    if (this.nextMemberIndex > index) this.nextMemberIndex -= 1
    if (this.nextMemberIndex >= this.members.length) this.nextMemberIndex = 0
  }

  addWaiting(entry: WaitingEntry): void {
    let i = this.waiting.length
    while (i > 0 && (this.waiting[i - 1] as WaitingEntry).offset > entry.offset) i--
    this.waiting.splice(i, 0, entry)
  }

  /** Removes and returns the oldest waiting entry due at `now`. */
  takeDue(now: number): WaitingEntry | undefined {
    const index = this.waiting.findIndex((entry) => entry.notBefore <= now)
    return index === -1 ? undefined : this.waiting.splice(index, 1)[0]
  }

  /**
   * Moves the group to `offset` (a stream cursor, or retention cutting below it), forgetting
   * everything before it; `forgetAfter` also forgets what lies beyond (a cursor that rewinds).
   * Returns the pending entries dropped, so the caller can detach them from their consumers.
   */
  moveTo(offset: number, forgetAfter: boolean): PendingEntry[] {
    const dropped: PendingEntry[] = []
    for (const entry of this.pending.values()) {
      if (forgetAfter || entry.offset < offset) dropped.push(entry)
    }
    for (const entry of dropped) this.pending.delete(entry.offset)
    const keep = this.waiting.filter((entry) => !forgetAfter && entry.offset >= offset)
    this.waiting.splice(0, this.waiting.length, ...keep)
    for (const settled of [...this.settledAbove]) if (forgetAfter || settled < offset) this.settledAbove.delete(settled)
    if (forgetAfter) {
      this.restoredCounts.clear()
      this.deliveredBeforeRestart = offset
      this.floor = offset
      this.nextOffset = offset
    } else {
      this.floor = Math.max(this.floor, offset)
      while (this.settledAbove.delete(this.floor)) this.floor += 1
      this.nextOffset = Math.max(this.nextOffset, this.floor)
    }
    this.dirty = true
    return dropped
  }
}
