import type { Message } from '@fluxmq/core'
import type Database from 'better-sqlite3'
import { StorageError, StorageErrorCode } from '../errors.js'
import type { GroupCommit } from '../group-commit.js'
import { asStorageError } from './database.js'
import type { QueueCursor } from './load.js'
import type { MessageRow, MessageStore } from './messages.js'
import { INLINE_PAYLOAD_LIMIT, SEGMENT_LIMIT, SegmentBuffers, SegmentWriter, decodeSegment } from './segments.js'
import type { Statements } from './statements.js'
import { READ_AHEAD_MESSAGES, ReadAhead } from './read-ahead.js'
import { MalformedMessageError } from './stored-message.js'

interface OfflineRow extends MessageRow {
  readonly seq: number
}

interface SegmentRow {
  readonly first_seq: number
  readonly data: Buffer
}

/** A staged removal of a queue's head; `below` grows while later removals join it. */
interface Removal {
  below: number
}

/**
 * The offline queues of one open database (schema v4): small messages are encoded into one
 * segment row per queue per group commit, large ones keep a shared `messages` row referenced
 * from `offline`. Every write is staged on the group commit; see README "Offline queues" for why
 * the staging below keeps what is on disk a prefix of the calls.
 */
export class OfflineQueues {
  /**
   * The segment each queue's small appends go into while the batch being staged has one open for
   * it. Only its first append stages an operation (the row's insert, which runs with everything
   * appended to the segment by then); later ones just encode into it. The insert takes its
   * segment out when it runs, so appends staged after that start the next batch's segment.
   */
  private readonly segments = new Map<string, SegmentWriter>()
  /** Each queue's staged removal that no other operation on that queue was staged after; out once it runs. */
  private readonly removals = new Map<string, Removal>()
  private readonly buffers = new SegmentBuffers()
  /**
   * Both reads of a take in one read transaction: every transaction's end costs SQLite a pass over
   * its page cache (pcache truncation), which showed as 7-11 % of the broker's CPU while draining
   * when each statement was its own transaction.
   */
  private readonly readRange: (clientId: string, from: number, to: number, aheadTo: number, into: (Message | undefined)[]) => void
  private readonly ahead = new ReadAhead()

  constructor(
    db: Database.Database,
    /** Head and tail of every queue; a client absent here has no entries once the staged operations apply. */
    private readonly cursors: Map<string, QueueCursor>,
    private readonly sql: Statements,
    private readonly messages: MessageStore,
    private readonly commits: GroupCommit,
    private readonly path: string,
  ) {
    // Segments are decoded up to aheadTo (their entries are small by construction); large entries
    // only up to `to`, so reading ahead never loads a large payload nobody asked for.
    this.readRange = db.transaction((clientId: string, from: number, to: number, aheadTo: number, into: (Message | undefined)[]) => {
      for (const row of sql.readSegments.iterate(clientId, from) as IterableIterator<SegmentRow>) {
        if (row.first_seq >= aheadTo) break
        decodeSegment(row.data, row.first_seq, from, aheadTo, into)
      }
      for (const row of sql.readOffline.iterate(clientId, from, to) as IterableIterator<OfflineRow>) {
        into[row.seq - from] = messages.fromRow(row)
      }
    })
  }

  append(clientId: string, message: Message): void {
    // After a failed commit writes are dropped; an open segment must not keep growing meanwhile.
    if (this.commits.failure !== undefined) return
    const { sql, commits } = this
    let queue = this.cursors.get(clientId)
    if (queue === undefined) {
      queue = { head: 0, tail: 0 }
      this.cursors.set(clientId, queue)
      // A queue emptied in an earlier run left its head row (see removeHead); this queue starts
      // again at seq 0, before that head.
      commits.stage(() => sql.deleteHead.run(clientId))
    }
    const seq = queue.tail++
    if (message.payload.length > INLINE_PAYLOAD_LIMIT) {
      this.removals.delete(clientId)
      const { messages } = this
      commits.stage(() => sql.insertOffline.run(clientId, seq, messages.referenceFor(message)))
      return
    }
    let segment = this.segments.get(clientId)
    if (segment === undefined) {
      const opened = new SegmentWriter(seq, this.buffers)
      this.segments.set(clientId, opened)
      this.removals.delete(clientId)
      const { segments } = this
      commits.stage(() => {
        if (segments.get(clientId) === opened) segments.delete(clientId)
        sql.insertSegment.run(clientId, opened.endSeq, opened.firstSeq, opened.data)
        opened.release()
      })
      segment = opened
    }
    segment.append(seq, message)
    // Bounds what a take that starts inside the segment reads and skips.
    if (segment.size >= SEGMENT_LIMIT) this.segments.delete(clientId)
  }

  dropOldest(clientId: string, n: number): void {
    const queue = this.cursors.get(clientId)
    if (queue !== undefined) this.removeHead(clientId, queue, n)
  }

  /**
   * Removes and returns up to `limit` messages from the head: from the read-ahead when it holds
   * them all (they are committed), else by committing what is staged (read-your-writes) and
   * reading. The removal is staged, so it commits with what the caller does next.
   */
  take(clientId: string, limit: number): Message[] {
    const queue = this.cursors.get(clientId)
    const count = queue === undefined ? 0 : Math.min(Math.max(Math.floor(limit), 0), queue.tail - queue.head)
    if (queue === undefined || count === 0) return []
    const held = this.ahead.take(clientId, queue.head, count)
    if (held !== undefined) {
      this.removeHead(clientId, queue, count)
      return held
    }
    this.commits.flush()
    const head = queue.head
    const found = this.read(clientId, head, head + count, Math.min(queue.tail, head + count + READ_AHEAD_MESSAGES))
    this.removeHead(clientId, queue, count)
    // The entries read past `count` up to the first one not read (a large entry), for the next takes.
    const next = found.indexOf(undefined, count)
    this.ahead.keep(clientId, head + count, found.slice(count, next === -1 ? found.length : next) as Message[])
    return found.slice(0, count) as Message[]
  }

  /** The session is deleted: its queue is gone once the caller's staged delete of the rows applies. */
  forget(clientId: string): void {
    this.cursors.delete(clientId)
    this.segments.delete(clientId)
    this.removals.delete(clientId)
    this.ahead.forget(clientId)
  }

  /**
   * The entries with seq in [from, to), from both tables, in seq order, followed by those of
   * [to, aheadTo) that segments hold (undefined where a large entry is).
   */
  private read(clientId: string, from: number, to: number, aheadTo: number): (Message | undefined)[] {
    const { path } = this
    const found = new Array<Message | undefined>(aheadTo - from).fill(undefined)
    try {
      this.readRange(clientId, from, to, aheadTo, found)
    } catch (cause) {
      if (cause instanceof MalformedMessageError) {
        throw new StorageError(StorageErrorCode.Corrupt, path, `offline queue of ${clientId} is damaged: ${cause.message}`, {
          cause,
        })
      }
      throw asStorageError(cause, path, `cannot read offline queue of ${clientId}`, StorageErrorCode.Read)
    }
    // Seqs are contiguous from head to tail; a hole means rows are gone that the queue still
    // counts, and returning around it would silently lose messages.
    const hole = found.indexOf(undefined)
    if (hole !== -1 && hole < to - from) {
      throw new StorageError(StorageErrorCode.Corrupt, path, `offline queue of ${clientId} has no entry ${from + hole}`)
    }
    return found
  }

  /**
   * Stages: delete the whole segments and large entries below the new head, and store the head
   * (it may fall inside a segment). A removal with no other operation on the queue staged since
   * the previous one only moves that one's head: a connected session whose window is full drops
   * each message from the stored queue as it delivers it, and this keeps that at one removal per
   * batch.
   *
   * The queue's open segment stays open: its insert is staged before this removal and applies
   * with all its appends, so its end only grows past the head. An emptied queue keeps its head
   * row, so that appends after it in the same batch, which may land in that segment below the
   * head, stay behind it; a queue that starts anew (no cursor) deletes the row first.
   */
  private removeHead(clientId: string, queue: QueueCursor, n: number): void {
    const removed = Math.min(Math.max(n, 0), queue.tail - queue.head)
    if (removed === 0) return
    queue.head += removed
    this.ahead.advanced(clientId, queue.head)
    const pending = this.removals.get(clientId)
    if (pending !== undefined) {
      pending.below = queue.head
      return
    }
    const removal: Removal = { below: queue.head }
    this.removals.set(clientId, removal)
    const { sql, removals } = this
    this.commits.stage(() => {
      if (removals.get(clientId) === removal) removals.delete(clientId)
      sql.deleteSegmentsBelow.run(clientId, removal.below)
      sql.deleteOfflineBelow.run(clientId, removal.below)
      sql.upsertHead.run(clientId, removal.below)
    })
  }
}
