import type {
  InflightRecord,
  Logger,
  Message,
  SessionRecord,
  Storage,
  StoredState,
  SubscriptionOptions,
} from '@fluxmq/core'
import type Database from 'better-sqlite3'
import { StorageError, StorageErrorCode, describeCause } from '../errors.js'
import { GroupCommit, type GroupCommitStats, type StagedOp } from '../group-commit.js'
import { asStorageError, openDatabase, type SyncMode } from './database.js'
import { loadState, type QueueCursor } from './load.js'
import { MessageStore, type MessageRow } from './messages.js'
import { INLINE_PAYLOAD_LIMIT, SegmentBuffers, SegmentWriter, decodeSegment } from './segments.js'
import { prepareStatements, type Statements } from './statements.js'
import { MalformedMessageError } from './stored-message.js'

export interface SqliteStorageOptions {
  /** storage.dir: the database is `<dir>/fluxmq.db`; the directory is created if missing. */
  readonly dir: string
  /** storage.sync: 'normal' survives a process crash, 'full' survives power loss. */
  readonly sync: SyncMode
  /** Where a failed commit is reported (once); without one it becomes a process warning. */
  readonly logger?: Logger
}

interface OpenDatabase {
  readonly db: Database.Database
  readonly path: string
  readonly sql: Statements
  readonly messages: MessageStore
  readonly commits: GroupCommit
  /** Offline queue ends per client; a client absent here has no offline entries once staged ops apply. */
  readonly queues: Map<string, QueueCursor>
  /**
   * The segment each client's appends go into, while the batch being staged has one open for it:
   * the first append stages the segment's insert, later ones only encode into it. Emptied when
   * the batch applies, and a client's entry is removed when an operation on its queue is staged
   * after the segment's insert, so the segment never holds an append staged after that operation.
   */
  readonly segments: Map<string, SegmentWriter>
  readonly segmentBuffers: SegmentBuffers
}

interface OfflineRow extends MessageRow {
  readonly seq: number
}

interface SegmentRow {
  readonly first_seq: number
  readonly data: Buffer
}

/**
 * Storage on SQLite (better-sqlite3) in WAL mode with group commit: see README.md for the schema,
 * the durability of each sync mode and the commit semantics.
 */
export class SqliteStorage implements Storage {
  private readonly options: SqliteStorageOptions
  private state: 'new' | 'open' | 'closed' = 'new'
  private current: OpenDatabase | undefined

  constructor(options: SqliteStorageOptions) {
    this.options = options
  }

  /** Why the store stopped accepting work, if a commit failed. */
  get failure(): StorageError | undefined {
    return this.current?.commits.failure as StorageError | undefined
  }

  get stats(): GroupCommitStats {
    return this.current?.commits.stats ?? { commits: 0, operations: 0 }
  }

  async open(): Promise<StoredState> {
    if (this.state !== 'new') {
      throw new StorageError(StorageErrorCode.Closed, this.options.dir, `open() called on a store that is ${this.state}`)
    }
    const { db, path } = openDatabase(this.options.dir, this.options.sync)
    try {
      const messages = new MessageStore(db)
      const { state, queues } = loadState(db, messages)
      const sql = prepareStatements(db)
      const segments = new Map<string, SegmentWriter>()
      const applyBatch = db.transaction((ops: readonly StagedOp[]) => {
        segments.clear()
        for (const op of ops) op()
        messages.collectGarbage()
      })
      const commits = new GroupCommit(
        applyBatch,
        (cause) =>
          new StorageError(StorageErrorCode.Commit, path, `commit failed, its writes are lost: ${describeCause(cause)}`, {
            cause,
          }),
        (failure) => this.reportFailure(failure),
      )
      this.current = { db, path, sql, messages, commits, queues, segments, segmentBuffers: new SegmentBuffers() }
      this.state = 'open'
      return state
    } catch (cause) {
      db.close()
      throw asStorageError(cause, path, 'cannot load stored state', StorageErrorCode.Read)
    }
  }

  /** Commits what is staged, then closes the file. Rejects if that last commit failed. */
  async close(): Promise<void> {
    const open = this.current
    if (this.state === 'closed') return
    this.state = 'closed'
    this.current = undefined
    if (open === undefined) return
    try {
      if (open.commits.failure === undefined) open.commits.flush()
    } finally {
      open.db.close()
    }
  }

  sync(): Promise<void> {
    if (this.current === undefined) return Promise.reject(this.closedError('sync'))
    return this.current.commits.sync()
  }

  putSession(record: SessionRecord): void {
    const { commits, sql, messages } = this.use('putSession')
    commits.stage(() => {
      const will = record.will
      sql.upsertSession.run(
        record.clientId,
        record.protocol,
        record.expiryInterval,
        record.disconnectedAt ?? null,
        will === undefined ? null : messages.idFor(will.message),
        will === undefined ? null : will.delayInterval,
      )
    })
  }

  deleteSession(clientId: string): void {
    const { commits, sql, queues, segments } = this.use('deleteSession')
    // The staged delete removes every entry before any later append of this client applies, so
    // a new queue can start its sequence again from zero, in a new segment.
    queues.delete(clientId)
    segments.delete(clientId)
    commits.stage(() => {
      sql.deleteSessionSubscriptions.run(clientId)
      sql.deleteSessionInflight.run(clientId)
      sql.deleteSessionIncomingQos2.run(clientId)
      sql.deleteSessionOffline.run(clientId)
      sql.deleteSessionSegments.run(clientId)
      sql.deleteSessionHead.run(clientId)
      sql.deleteSession.run(clientId)
    })
  }

  putSubscription(clientId: string, sub: SubscriptionOptions): void {
    const { commits, sql } = this.use('putSubscription')
    commits.stage(() => {
      sql.upsertSubscription.run(
        clientId,
        sub.filter,
        sub.qos,
        sub.noLocal ? 1 : 0,
        sub.retainAsPublished ? 1 : 0,
        sub.retainHandling,
        sub.subscriptionId ?? null,
        sub.userProperties === undefined ? null : JSON.stringify(sub.userProperties),
      )
    })
  }

  deleteSubscription(clientId: string, filter: string): void {
    const { commits, sql } = this.use('deleteSubscription')
    commits.stage(() => sql.deleteSubscription.run(clientId, filter))
  }

  putInflight(clientId: string, record: InflightRecord): void {
    const { commits, sql, messages } = this.use('putInflight')
    commits.stage(() => {
      sql.upsertInflight.run(
        clientId,
        record.packetId,
        messages.idFor(record.message),
        record.qos,
        record.retain ? 1 : 0,
        record.state,
        record.subscriptionIds === undefined ? null : JSON.stringify(record.subscriptionIds),
      )
    })
  }

  deleteInflight(clientId: string, packetId: number): void {
    const { commits, sql } = this.use('deleteInflight')
    commits.stage(() => sql.deleteInflight.run(clientId, packetId))
  }

  putIncomingQos2(clientId: string, packetId: number): void {
    const { commits, sql } = this.use('putIncomingQos2')
    commits.stage(() => sql.insertIncomingQos2.run(clientId, packetId))
  }

  releaseIncomingQos2(clientId: string, packetId: number): void {
    const { commits, sql } = this.use('releaseIncomingQos2')
    commits.stage(() => sql.releaseIncomingQos2.run(clientId, packetId))
  }

  deleteIncomingQos2(clientId: string, packetId: number): void {
    const { commits, sql } = this.use('deleteIncomingQos2')
    commits.stage(() => sql.deleteIncomingQos2.run(clientId, packetId))
  }

  appendOffline(clientId: string, message: Message): void {
    const { commits, sql, messages, queues, segments, segmentBuffers } = this.use('appendOffline')
    // After a failed commit writes are dropped; an open segment must not keep growing meanwhile.
    if (commits.failure !== undefined) return
    let queue = queues.get(clientId)
    if (queue === undefined) {
      queue = { head: 0, tail: 0 }
      queues.set(clientId, queue)
    }
    const seq = queue.tail++
    if (message.payload.length > INLINE_PAYLOAD_LIMIT) {
      commits.stage(() => sql.insertOffline.run(clientId, seq, messages.referenceFor(message)))
      return
    }
    let segment = segments.get(clientId)
    if (segment === undefined) {
      const opened = new SegmentWriter(seq, segmentBuffers)
      segments.set(clientId, opened)
      // Staged at the first append, so the segment's place in the batch is before any operation
      // on this queue staged later; the appends that follow only encode into it.
      commits.stage(() => {
        sql.insertSegment.run(clientId, opened.endSeq, opened.firstSeq, opened.data)
        opened.release()
      })
      segment = opened
    }
    segment.append(seq, message)
  }

  dropOldestOffline(clientId: string, n: number): void {
    const open = this.use('dropOldestOffline')
    const queue = open.queues.get(clientId)
    if (queue !== undefined) this.removeHead(open, clientId, queue, n)
  }

  async takeOffline(clientId: string, limit: number): Promise<Message[]> {
    const open = this.use('takeOffline')
    const queue = open.queues.get(clientId)
    const count = queue === undefined ? 0 : Math.min(Math.max(Math.floor(limit), 0), queue.tail - queue.head)
    if (queue === undefined || count === 0) return []
    // Read-your-writes: the entries may still be staged. Removal is staged, not committed here,
    // so it lands in one transaction with whatever the caller does with the messages next
    // (putInflight in the same turn); a crash before that commit leaves them queued.
    open.commits.flush()
    const taken = this.readOffline(open, clientId, queue.head, queue.head + count)
    this.removeHead(open, clientId, queue, count)
    return taken
  }

  putRetained(message: Message): void {
    const { commits, sql, messages } = this.use('putRetained')
    commits.stage(() => sql.upsertRetained.run(message.topic, messages.idFor(message)))
  }

  deleteRetained(topic: string): void {
    const { commits, sql } = this.use('deleteRetained')
    commits.stage(() => sql.deleteRetained.run(topic))
  }

  /** The entries with seq in [from, to), from both tables, in seq order. */
  private readOffline(open: OpenDatabase, clientId: string, from: number, to: number): Message[] {
    const { sql, messages, path } = open
    const found = new Array<Message | undefined>(to - from)
    try {
      for (const row of sql.readSegments.iterate(clientId, from) as IterableIterator<SegmentRow>) {
        if (row.first_seq >= to) break
        decodeSegment(row.data, row.first_seq, from, to, found)
      }
      for (const row of sql.readOffline.iterate(clientId, from, to) as IterableIterator<OfflineRow>) {
        found[row.seq - from] = messages.fromRow(row)
      }
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
    const hole = found.findIndex((message) => message === undefined)
    if (hole !== -1) {
      throw new StorageError(StorageErrorCode.Corrupt, path, `offline queue of ${clientId} has no entry ${from + hole}`)
    }
    return found as Message[]
  }

  private removeHead(open: OpenDatabase, clientId: string, queue: QueueCursor, n: number): void {
    const removed = Math.min(Math.max(n, 0), queue.tail - queue.head)
    if (removed === 0) return
    queue.head += removed
    const below = queue.head
    const emptied = queue.head === queue.tail
    const { commits, sql, segments } = open
    // Later appends of this batch must not go into a segment whose insert precedes this removal.
    segments.delete(clientId)
    commits.stage(() => {
      sql.deleteSegmentsBelow.run(clientId, below)
      sql.deleteOfflineBelow.run(clientId, below)
      // An emptied queue leaves no head row: after a restart it has no cursor and starts again at 0.
      if (emptied) sql.deleteHead.run(clientId)
      else sql.upsertHead.run(clientId, below)
    })
  }

  private use(method: string): OpenDatabase {
    if (this.current === undefined) throw this.closedError(method)
    return this.current
  }

  private closedError(method: string): StorageError {
    const path = this.options.dir
    return new StorageError(StorageErrorCode.Closed, path, `${method}() on a store that is ${this.state}, not open`)
  }

  private reportFailure(failure: Error): void {
    const path = this.current?.path ?? this.options.dir
    if (this.options.logger === undefined) process.emitWarning(failure)
    else this.options.logger.error({ err: failure, path }, 'storage commit failed; refusing further writes')
  }
}
