import type { InflightRecord } from '@fluxmq/core'
import type Database from 'better-sqlite3'
import type { GroupCommit, StagedOp } from '../group-commit.js'
import type { MessageStore } from './messages.js'
import { INLINE_PAYLOAD_LIMIT } from './segments.js'
import { ByteWriter, encodeStandalone } from './stored-message.js'

/** Rows one statement writes or deletes, at most (8 parameters a row stay far below SQLite's 32766). */
export const ROWS_PER_STATEMENT = 64

const UPSERT_HEAD = `INSERT INTO inflight (client_id, delivery_id, message_id, message, qos, retain, state, subscription_ids) VALUES `
const UPSERT_TAIL = ` ON CONFLICT (client_id, delivery_id) DO UPDATE SET message_id = excluded.message_id, message = excluded.message,
  qos = excluded.qos, retain = excluded.retain, state = excluded.state, subscription_ids = excluded.subscription_ids`

/** `INSERT ... VALUES` of `rows` rows; within one statement a later row with the same key updates an earlier one. */
export function upsertInflightSql(rows: number): string {
  return UPSERT_HEAD + Array.from({ length: rows }, () => '(?, ?, ?, ?, ?, ?, ?, ?)').join(', ') + UPSERT_TAIL
}

export function deleteInflightSql(deliveryIds: number): string {
  return `DELETE FROM inflight WHERE client_id = ? AND delivery_id IN (${Array.from({ length: deliveryIds }, () => '?').join(', ')})`
}

interface PutRun {
  readonly op: StagedOp
  /** Parallel to `records` (no wrapper object per row). */
  readonly clientIds: string[]
  readonly records: InflightRecord[]
}

interface DeleteRun {
  readonly op: StagedOp
  readonly clientId: string
  readonly deliveryIds: number[]
}

/**
 * Inflight writes, joined: consecutive putInflight calls of a batch (any clients) become one
 * multi-row upsert, consecutive deleteInflight calls of one client one `DELETE ... IN`. A resumed
 * session's drain puts each message taken from its queue inflight and deletes it at PUBACK, and
 * a statement per row cost as much broker CPU as the rest of the drain.
 *
 * Only calls with nothing staged between them are joined, and a batch commits whole or not at
 * all, so what is on disk stays a prefix of the calls (README, "Group commit").
 */
export class InflightWrites {
  private readonly upserts = new Map<number, Database.Statement>()
  private readonly deletes = new Map<number, Database.Statement>()
  /** Where the inline messages of one upsert are encoded; reset after each statement. */
  private readonly inline = new ByteWriter(4096)
  private readonly params: unknown[] = []
  private putRun: PutRun | undefined
  private deleteRun: DeleteRun | undefined

  constructor(
    private readonly db: Database.Database,
    private readonly commits: GroupCommit,
    private readonly messages: MessageStore,
  ) {}

  put(clientId: string, record: InflightRecord): void {
    const run = this.putRun
    if (run !== undefined && this.commits.isLast(run.op)) {
      run.clientIds.push(clientId)
      run.records.push(record)
      return
    }
    const clientIds = [clientId]
    const records = [record]
    const op = (): void => this.writePuts(clientIds, records)
    this.putRun = { op, clientIds, records }
    this.commits.stage(op)
  }

  delete(clientId: string, deliveryId: number): void {
    const run = this.deleteRun
    if (run !== undefined && run.clientId === clientId && this.commits.isLast(run.op)) {
      run.deliveryIds.push(deliveryId)
      return
    }
    const deliveryIds = [deliveryId]
    const op = (): void => this.writeDeletes(clientId, deliveryIds)
    this.deleteRun = { op, clientId, deliveryIds }
    this.commits.stage(op)
  }

  private writePuts(clientIds: readonly string[], records: readonly InflightRecord[]): void {
    const { params, inline, messages } = this
    for (let start = 0; start < records.length; start += ROWS_PER_STATEMENT) {
      const end = Math.min(records.length, start + ROWS_PER_STATEMENT)
      params.length = 0
      inline.length = 0
      for (let i = start; i < end; i++) {
        const record = records[i] as InflightRecord
        const message = record.message
        // A message that has a row already (retained, a large offline entry, loaded) references it;
        // a small one without (taken from a segment, routed live) is copied into the inflight row,
        // which saves writing a row that the PUBACK deletes again. Large ones get a shared row.
        const id = messages.existingId(message) ?? (message.payload.length > INLINE_PAYLOAD_LIMIT ? messages.idFor(message) : 0)
        params.push(
          clientIds[i],
          record.deliveryId,
          id,
          id === 0 ? encodeStandalone(inline, message) : null,
          record.qos,
          record.retain ? 1 : 0,
          record.state,
          record.subscriptionIds === undefined ? null : JSON.stringify(record.subscriptionIds),
        )
      }
      statement(this.upserts, this.db, end - start, upsertInflightSql).run(params)
    }
    params.length = 0
  }

  private writeDeletes(clientId: string, deliveryIds: readonly number[]): void {
    const { params } = this
    for (let start = 0; start < deliveryIds.length; start += ROWS_PER_STATEMENT) {
      const end = Math.min(deliveryIds.length, start + ROWS_PER_STATEMENT)
      params.length = 0
      params.push(clientId)
      for (let i = start; i < end; i++) params.push(deliveryIds[i])
      statement(this.deletes, this.db, end - start, deleteInflightSql).run(params)
    }
    params.length = 0
  }
}

/** The statement for `rows` rows, prepared at its first use (at most ROWS_PER_STATEMENT of each kind). */
function statement(
  cache: Map<number, Database.Statement>,
  db: Database.Database,
  rows: number,
  sql: (rows: number) => string,
): Database.Statement {
  let prepared = cache.get(rows)
  if (prepared === undefined) {
    prepared = db.prepare(sql(rows))
    cache.set(rows, prepared)
  }
  return prepared
}
