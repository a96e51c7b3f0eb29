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
import { loadState } from './load.js'
import { MessageStore } from './messages.js'
import { OfflineQueues } from './offline-queues.js'
import { InflightWrites } from './inflight-writes.js'
import { prepareStatements, type Statements } from './statements.js'

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
  readonly offline: OfflineQueues
  readonly inflight: InflightWrites
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
      const applyBatch = db.transaction((ops: readonly StagedOp[]) => {
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
      const offline = new OfflineQueues(db, queues, sql, messages, commits, path)
      this.current = { db, path, sql, messages, commits, offline, inflight: new InflightWrites(db, commits, messages) }
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
        record.epoch ?? null,
      )
    })
  }

  deleteSession(clientId: string): void {
    const { commits, sql, offline } = this.use('deleteSession')
    // The staged delete removes every entry before any later append of this client applies, so
    // a new queue can start its sequence again from zero, in a new segment.
    offline.forget(clientId)
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
    this.use('putInflight').inflight.put(clientId, record)
  }

  deleteInflight(clientId: string, deliveryId: number): void {
    this.use('deleteInflight').inflight.delete(clientId, deliveryId)
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
    this.use('appendOffline').offline.append(clientId, message)
  }

  dropOldestOffline(clientId: string, n: number): void {
    this.use('dropOldestOffline').offline.dropOldest(clientId, n)
  }

  async takeOffline(clientId: string, limit: number): Promise<Message[]> {
    return this.use('takeOffline').offline.take(clientId, limit)
  }

  putRetained(message: Message): void {
    const { commits, sql, messages } = this.use('putRetained')
    commits.stage(() => sql.upsertRetained.run(message.topic, messages.idFor(message)))
  }

  deleteRetained(topic: string): void {
    const { commits, sql } = this.use('deleteRetained')
    commits.stage(() => sql.deleteRetained.run(topic))
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
