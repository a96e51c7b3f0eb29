import type { Message } from '@fluxmq/core'
import { MESSAGE_FIELDS_SELECTED, MESSAGE_FIELD_COLUMNS, MESSAGE_FIELD_NAMES, type MessageFieldsRow, decodeMessageRow, messageValues } from '@fluxmq/storage/internal'
import type Database from 'better-sqlite3'
import type { QueueDefinition } from '../definition.js'
import { decodeOffsets, encodeOffsets } from './offsets.js'

/** One message of a queue's log. */
export interface LogEntry {
  readonly offset: number
  readonly message: Message
}

export interface StoredQueue {
  readonly id: number
  readonly definition: QueueDefinition
  readonly declared: boolean
  /** Offsets below it were truncated. */
  readonly firstOffset: number
  /** One past the highest offset appended, or firstOffset when the log is empty. */
  readonly nextOffset: number
  readonly bytes: number
}

export interface StoredGroup {
  readonly name: string
  readonly floor: number
  readonly deliveredTo: number
  /** Offsets at or above the floor that are settled. */
  readonly settled: readonly number[]
  /** Counted deliveries of unsettled offsets that were delivered more than once. */
  readonly deliveries: ReadonlyMap<number, number>
  /** The keys of its group_acks and group_entries rows. */
  readonly rowKeys: readonly number[]
}

interface MessageRow extends MessageFieldsRow {
  readonly offset: number
}

/** The table of one queue's log (database.ts, "One table per queue"). */
export function logTable(queueId: number): string {
  return `log_${queueId}`
}

/** Creates the log table of a queue unless it exists. */
export function createLogSql(queueId: number): string {
  return `CREATE TABLE IF NOT EXISTS ${logTable(queueId)} (
  offset INTEGER PRIMARY KEY,
  size   INTEGER NOT NULL,
  ${MESSAGE_FIELD_COLUMNS}
)`
}

/** Rows of one multi-row insert at most; a commit's appends go in as few inserts as its count has bits. */
const MAX_INSERT_ROWS = 64
/** The bound values of one log row: offset, size and the message fields. */
const VALUES_PER_ROW = 14

/** The statements on one queue's log, prepared when the queue is first used in this process. */
class LogStatements {
  /** Inserts of 1, 2, 4 … MAX_INSERT_ROWS rows, by row count, prepared on first use. */
  private readonly inserts = new Map<number, Database.Statement>()
  readonly readFrom: Database.Statement
  readonly readAt: Database.Statement
  readonly publishedAt: Database.Statement
  readonly rangeSize: Database.Statement
  readonly sizesFrom: Database.Statement
  readonly deleteBelow: Database.Statement

  constructor(
    private readonly db: Database.Database,
    private readonly log: string,
  ) {
    // Messages are stored and read back as the session store does (@fluxmq/storage/internal).
    const select = `SELECT m.offset AS offset, ${MESSAGE_FIELDS_SELECTED} FROM ${log} m`
    this.readFrom = db.prepare(`${select} WHERE m.offset >= ? AND m.offset < ? ORDER BY m.offset LIMIT ?`)
    this.readAt = db.prepare(`${select} WHERE m.offset = ?`)
    this.publishedAt = db.prepare(`SELECT published_at FROM ${log} WHERE offset = ?`).pluck()
    this.rangeSize = db.prepare(`SELECT count(*) AS count, coalesce(sum(size), 0) AS bytes FROM ${log} WHERE offset < ?`)
    this.sizesFrom = db.prepare(`SELECT offset, size FROM ${log} WHERE offset >= ? ORDER BY offset`)
    this.deleteBelow = db.prepare(`DELETE FROM ${log} WHERE offset < ?`)
  }

  /**
   * Appends `entries` in multi-row inserts, the largest power of two that fits first: one
   * statement per commit for most batches instead of one per message.
   */
  insert(entries: readonly LogEntry[]): void {
    let at = 0
    while (at < entries.length) {
      let rows = MAX_INSERT_ROWS
      while (rows > entries.length - at) rows /= 2
      // Sized up front: pushed, the array reallocated its store about twice per row.
      const values = new Array<unknown>(rows * VALUES_PER_ROW)
      let next = 0
      for (let i = at; i < at + rows; i++) {
        const { offset, message } = entries[i] as LogEntry
        values[next++] = offset
        values[next++] = messageSize(message)
        for (const value of messageValues(message)) values[next++] = value
      }
      this.insertOf(rows).run(values)
      at += rows
    }
  }

  private insertOf(rows: number): Database.Statement {
    let insert = this.inserts.get(rows)
    if (insert === undefined) {
      const row = `(${new Array<string>(VALUES_PER_ROW).fill('?').join(', ')})`
      insert = this.db.prepare(`INSERT INTO ${this.log} (offset, size, ${MESSAGE_FIELD_NAMES}) VALUES ${new Array<string>(rows).fill(row).join(', ')}`)
      this.inserts.set(rows, insert)
    }
    return insert
  }
}

/** What counts against max_bytes: the payload and the topic. */
export function messageSize(message: Message): number {
  return message.payload.length + message.topic.length
}

/**
 * Every SQL statement of the engine, prepared once. Reads run at once; writes are called by the
 * engine inside its group-commit transaction.
 */
export class QueueStore {
  private readonly logs = new Map<number, LogStatements>()
  private readonly setFirstOffsetStatement
  private readonly upsertGroupStatement
  private readonly deleteEntriesBelowStatement
  private readonly deleteAcksBelowStatement
  private readonly deleteGroupEntriesStatement
  private readonly deleteGroupAcksStatement
  private readonly upsertEntryStatement
  private readonly insertAcksStatement

  constructor(private readonly db: Database.Database) {
    this.setFirstOffsetStatement = db.prepare('UPDATE queues SET first_offset = ? WHERE id = ?')
    this.upsertGroupStatement = db.prepare(
      'INSERT INTO groups (queue_id, name, floor, delivered_to) VALUES (?, ?, ?, ?) ON CONFLICT (queue_id, name) DO UPDATE SET floor = excluded.floor, delivered_to = excluded.delivered_to',
    )
    this.deleteEntriesBelowStatement = db.prepare('DELETE FROM group_entries WHERE queue_id = ? AND group_name = ? AND offset < ?')
    this.deleteAcksBelowStatement = db.prepare('DELETE FROM group_acks WHERE queue_id = ? AND group_name = ? AND last_offset < ?')
    this.deleteGroupEntriesStatement = db.prepare('DELETE FROM group_entries WHERE queue_id = ? AND group_name = ?')
    this.deleteGroupAcksStatement = db.prepare('DELETE FROM group_acks WHERE queue_id = ? AND group_name = ?')
    this.upsertEntryStatement = db.prepare(
      'INSERT INTO group_entries (queue_id, group_name, offset, deliveries) VALUES (?, ?, ?, ?) ON CONFLICT (queue_id, group_name, offset) DO UPDATE SET deliveries = excluded.deliveries',
    )
    this.insertAcksStatement = db.prepare('INSERT INTO group_acks (queue_id, group_name, last_offset, offsets) VALUES (?, ?, ?, ?)')
  }

  private log(queueId: number): LogStatements {
    let log = this.logs.get(queueId)
    if (log === undefined) this.logs.set(queueId, (log = new LogStatements(this.db, logTable(queueId))))
    return log
  }

  loadQueues(): StoredQueue[] {
    const rows = this.db.prepare('SELECT id, definition, declared, first_offset FROM queues ORDER BY id').all() as {
      id: number
      definition: string
      declared: number
      first_offset: number
    }[]
    return rows.map((row) => {
      const bounds = this.db.prepare(`SELECT max(offset) AS last, coalesce(sum(size), 0) AS bytes FROM ${logTable(row.id)}`)
      const { last, bytes } = bounds.get() as { last: number | null; bytes: number }
      return {
        id: row.id,
        definition: JSON.parse(row.definition) as QueueDefinition,
        declared: row.declared === 1,
        firstOffset: row.first_offset,
        nextOffset: last === null ? row.first_offset : Math.max(last + 1, row.first_offset),
        bytes,
      }
    })
  }

  loadGroups(queueId: number): StoredGroup[] {
    const groups = this.db.prepare('SELECT name, floor, delivered_to FROM groups WHERE queue_id = ? ORDER BY name').all(queueId) as {
      name: string
      floor: number
      delivered_to: number
    }[]
    const entries = this.db.prepare('SELECT offset, deliveries FROM group_entries WHERE queue_id = ? AND group_name = ? AND offset >= ? ORDER BY offset')
    const acks = this.db.prepare('SELECT last_offset, offsets FROM group_acks WHERE queue_id = ? AND group_name = ? AND last_offset >= ?')
    return groups.map((group) => {
      const settled: number[] = []
      const rowKeys: number[] = []
      for (const row of acks.iterate(queueId, group.name, group.floor) as IterableIterator<{ last_offset: number; offsets: Buffer }>) {
        rowKeys.push(row.last_offset)
        for (const offset of decodeOffsets(row.offsets)) if (offset >= group.floor) settled.push(offset)
      }
      const deliveries = new Map<number, number>()
      for (const entry of entries.iterate(queueId, group.name, group.floor) as IterableIterator<{ offset: number; deliveries: number }>) {
        rowKeys.push(entry.offset)
        deliveries.set(entry.offset, entry.deliveries)
      }
      return { name: group.name, floor: group.floor, deliveredTo: group.delivered_to, settled, deliveries, rowKeys }
    })
  }

  /** Creates or updates a queue row and its log table now (outside any batch: queue creation is rare and needs the id). */
  saveQueue(definition: QueueDefinition, declared: boolean): number {
    const save = this.db.transaction(() => {
      const row = this.db
        .prepare(
          'INSERT INTO queues (name, definition, declared) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, declared = excluded.declared RETURNING id',
        )
        .get(definition.name, JSON.stringify(definition), declared ? 1 : 0) as { id: number }
      this.db.exec(createLogSql(row.id))
      return row.id
    })
    return save()
  }

  insertMessages(queueId: number, entries: readonly LogEntry[]): void {
    this.log(queueId).insert(entries)
  }

  /** Up to `limit` messages with offsets in [from, to), in offset order. */
  readFrom(queueId: number, from: number, to: number, limit: number): LogEntry[] {
    return (this.log(queueId).readFrom.all(from, to, limit) as MessageRow[]).map(toEntry)
  }

  readAt(queueId: number, offset: number): LogEntry | undefined {
    const row = this.log(queueId).readAt.get(offset) as MessageRow | undefined
    return row === undefined ? undefined : toEntry(row)
  }

  /**
   * The offset of the first message in [from, to) published at or after `at`, or undefined if
   * none was: a binary search over the offsets (a log has no gaps between its first offset and
   * its end), as publish times grow with offsets.
   */
  firstPublishedAtOrAfter(queueId: number, from: number, to: number, at: number): number | undefined {
    const publishedAt = this.log(queueId).publishedAt
    let low = from
    let high = to
    while (low < high) {
      const middle = Math.floor((low + high) / 2)
      if ((publishedAt.get(middle) as number) < at) low = middle + 1
      else high = middle
    }
    return low < to ? low : undefined
  }

  /** Count and bytes of the messages below `offset`. */
  sizeBelow(queueId: number, offset: number): { count: number; bytes: number } {
    return this.log(queueId).rangeSize.get(offset) as { count: number; bytes: number }
  }

  /** The smallest offset from which the rest of the log holds at most `maxBytes`. */
  offsetKeepingBytes(queueId: number, from: number, totalBytes: number, maxBytes: number): number {
    let bytes = totalBytes
    let offset = from
    for (const row of this.log(queueId).sizesFrom.iterate(from) as IterableIterator<{ offset: number; size: number }>) {
      if (bytes <= maxBytes) return row.offset
      bytes -= row.size
      offset = row.offset + 1
    }
    return offset
  }

  truncate(queueId: number, below: number): void {
    this.log(queueId).deleteBelow.run(below)
    this.setFirstOffsetStatement.run(below, queueId)
  }

  /** The group's floor and delivered-to mark. */
  saveGroup(queueId: number, name: string, floor: number, deliveredTo: number): void {
    this.upsertGroupStatement.run(queueId, name, floor, deliveredTo)
  }

  /** Forgets the group's rows below its floor: the floor says all of it now. */
  deleteBelowFloor(queueId: number, name: string, floor: number): void {
    this.deleteEntriesBelowStatement.run(queueId, name, floor)
    this.deleteAcksBelowStatement.run(queueId, name, floor)
  }

  /** Offsets settled above the floor (one commit's), in one row; returns the row's key, the highest. */
  saveSettled(queueId: number, group: string, offsets: readonly number[]): number {
    let last = 0
    for (const offset of offsets) last = Math.max(last, offset)
    // Each offset is settled once per group, so a commit's highest one keys no other row.
    this.insertAcksStatement.run(queueId, group, last, encodeOffsets(offsets))
    return last
  }

  /** The counted deliveries of an offset delivered more than once. */
  saveDeliveries(queueId: number, group: string, offset: number, deliveries: number): void {
    this.upsertEntryStatement.run(queueId, group, offset, deliveries)
  }

  clearGroupEntries(queueId: number, group: string): void {
    this.deleteGroupEntriesStatement.run(queueId, group)
    this.deleteGroupAcksStatement.run(queueId, group)
  }
}

function toEntry(row: MessageRow): LogEntry {
  return { offset: row.offset, message: decodeMessageRow(row) }
}
