import { MESSAGE_FIELD_NAMES, StorageError, type SyncMode, openSqlite } from '@fluxmq/storage/internal'
import type Database from 'better-sqlite3'
import { QueueError, QueueErrorCode } from '../errors.js'
import { encodeOffsets } from './offsets.js'
import { createLogSql, logTable } from './queue-store.js'

export type { SyncMode }

/** The queue engine's own file beside the session store's `fluxmq.db` (see README, "Decisions"). */
export const QUEUE_DATABASE_FILE = 'queues.db'

/** PRAGMA application_id of a FluxMQ queue database: "FLXQ" in ASCII. */
const APPLICATION_ID = 0x464c5851
const SCHEMA_VERSION = 3

/*
 * One table per queue for its log, `log_<queue id>` (queue-store.ts createLogSql), made with the
 * queue: the offset is the table's rowid, so an append writes one b-tree and appends at its end
 * (SQLite packs leaves full when rows arrive in key order), and reading from an offset and
 * truncating the head are rowid range scans. Version 2 had one table for all queues keyed by
 * (queue_id, offset) through a second b-tree, a unique index: every commit wrote a leaf of each,
 * about 1.4 more WAL frames per commit of 5 (a frame is two pwrite calls). `published_at` has no
 * index: publish times grow with offsets (the broker clock), so the `timestamp=` cursor and
 * max_age search the offsets (queue-store.ts firstPublishedAtOrAfter); version 1 had a
 * `messages_time` index, dropped when such a file is opened.
 *
 * A group's committed state is its floor (every offset below it is settled) and `delivered_to`
 * (every offset below it was delivered at least once); what the floor does not say is in
 * `group_acks`, the offsets above it settled out of order, one row per commit (a blob of
 * float64s, keyed by its highest offset, so rows the floor has passed go in one range delete),
 * and `group_entries`, the redelivery counts. Schema version 1 had one `group_entries` row per
 * settled offset: an insert and a delete per message acknowledged out of order.
 */
const GROUP_TABLES = `
CREATE TABLE group_acks (
  queue_id    INTEGER NOT NULL,
  group_name  TEXT    NOT NULL,
  last_offset INTEGER NOT NULL,
  offsets     BLOB    NOT NULL,
  PRIMARY KEY (queue_id, group_name, last_offset)
) WITHOUT ROWID;

CREATE TABLE group_entries (
  queue_id   INTEGER NOT NULL,
  group_name TEXT    NOT NULL,
  offset     INTEGER NOT NULL,
  deliveries INTEGER NOT NULL,
  PRIMARY KEY (queue_id, group_name, offset)
) WITHOUT ROWID;
`

/** From version 1: the publish-time index goes, settled offsets move to group_acks (a row each). */
function migrateFrom1(db: Database.Database): void {
  db.exec(`
DROP INDEX messages_time;
ALTER TABLE group_entries RENAME TO group_entries_1;
${GROUP_TABLES}
INSERT INTO group_entries (queue_id, group_name, offset, deliveries)
  SELECT queue_id, group_name, offset, deliveries FROM group_entries_1 WHERE settled = 0;
`)
  const insert = db.prepare('INSERT INTO group_acks (queue_id, group_name, last_offset, offsets) VALUES (?, ?, ?, ?)')
  const settled = db.prepare('SELECT queue_id, group_name, offset FROM group_entries_1 WHERE settled = 1').all() as { queue_id: number; group_name: string; offset: number }[]
  for (const row of settled) insert.run(row.queue_id, row.group_name, row.offset, encodeOffsets([row.offset]))
  db.exec('DROP TABLE group_entries_1')
}

/** From version 2: each queue's messages move from the shared `messages` table to its own log table. */
function migrateFrom2(db: Database.Database): void {
  for (const id of db.prepare('SELECT id FROM queues').pluck().all() as number[]) {
    db.exec(createLogSql(id))
    db.exec(`INSERT INTO ${logTable(id)} (offset, size, ${MESSAGE_FIELD_NAMES})
      SELECT offset, size, ${MESSAGE_FIELD_NAMES} FROM messages WHERE queue_id = ${id} ORDER BY offset`)
  }
  db.exec('DROP TABLE messages')
}

const SCHEMA = `
CREATE TABLE queues (
  id           INTEGER PRIMARY KEY,
  name         TEXT    NOT NULL UNIQUE,
  definition   TEXT    NOT NULL,
  declared     INTEGER NOT NULL,
  first_offset INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE groups (
  queue_id     INTEGER NOT NULL,
  name         TEXT    NOT NULL,
  floor        INTEGER NOT NULL,
  delivered_to INTEGER NOT NULL,
  PRIMARY KEY (queue_id, name)
) WITHOUT ROWID;

${GROUP_TABLES}`

/**
 * Opens (creating) `<dir>/queues.db` as the session store opens its file (one function: same
 * pragmas, same lock), with the queue schema. Every failure is an Open QueueError.
 */
export function openQueueDatabase(dir: string, sync: SyncMode): { db: Database.Database; path: string } {
  try {
    return openSqlite(dir, QUEUE_DATABASE_FILE, sync, migrate)
  } catch (cause) {
    // A foreign file or another schema version, as migrate() said it.
    if (cause instanceof StorageError && cause.cause instanceof QueueError) throw cause.cause
    throw new QueueError(QueueErrorCode.Open, `cannot open queue database: ${cause instanceof Error ? cause.message : String(cause)}`, { cause })
  }
}

function migrate(db: Database.Database, path: string): void {
  const applicationId = db.pragma('application_id', { simple: true }) as number
  const version = db.pragma('user_version', { simple: true }) as number
  if (applicationId === 0 && version === 0) {
    const tables = db.prepare('SELECT count(*) AS n FROM sqlite_master').get() as { n: number }
    if (tables.n !== 0) throw new QueueError(QueueErrorCode.Open, `${path} is an SQLite database another application made`)
    db.transaction(() => {
      db.exec(SCHEMA)
      db.pragma(`application_id = ${APPLICATION_ID}`)
      db.pragma(`user_version = ${SCHEMA_VERSION}`)
    })()
    return
  }
  if (applicationId !== APPLICATION_ID) throw new QueueError(QueueErrorCode.Open, `${path} is not a FluxMQ queue database`)
  if (version === 1 || version === 2) {
    db.transaction(() => {
      if (version === 1) migrateFrom1(db)
      migrateFrom2(db)
      db.pragma(`user_version = ${SCHEMA_VERSION}`)
    })()
    return
  }
  if (version !== SCHEMA_VERSION) {
    throw new QueueError(QueueErrorCode.Open, `${path} has queue schema version ${version}, this build knows ${SCHEMA_VERSION}`)
  }
}
