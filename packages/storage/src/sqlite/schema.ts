import type Database from 'better-sqlite3'
import { StorageError, StorageErrorCode } from '../errors.js'
import { MESSAGE_FIELD_COLUMNS } from './messages.js'

/** PRAGMA application_id of every FluxMQ database: "FLUX" in ASCII. */
export const APPLICATION_ID = 0x464c5558

export interface Migration {
  /** The PRAGMA user_version the database has once this migration ran. */
  readonly version: number
  readonly up: (db: Database.Database) => void
}

/*
 * Messages are stored once and referenced by id from every place that holds them (offline
 * queues, inflight, retained, wills): a publish fanned out to a thousand offline sessions writes
 * its payload once. `refs` counts the references; triggers keep it exact for every insert, update
 * and delete (since v3 an offline insert counts its own, see V3), and each commit ends by
 * deleting the rows whose count fell to zero (found through a partial index, so the sweep costs
 * nothing when there is no garbage). Deferring the sweep to the end of the transaction lets a message taken from the offline queue and put inflight in the
 * same turn keep its row instead of being deleted and written again.
 */
const V1 = `
CREATE TABLE messages (
  id               INTEGER PRIMARY KEY,
  refs             INTEGER NOT NULL,
  ${MESSAGE_FIELD_COLUMNS}
);
CREATE INDEX messages_garbage ON messages (id) WHERE refs = 0;

CREATE TABLE sessions (
  client_id       TEXT PRIMARY KEY,
  protocol        TEXT    NOT NULL,
  expiry_interval INTEGER NOT NULL,
  disconnected_at INTEGER,
  will_message_id INTEGER,
  will_delay      INTEGER
);

-- rowid keeps insertion order; an upsert keeps a row's place.
CREATE TABLE subscriptions (
  client_id          TEXT    NOT NULL,
  filter             TEXT    NOT NULL,
  qos                INTEGER NOT NULL,
  no_local           INTEGER NOT NULL,
  retain_as_published INTEGER NOT NULL,
  retain_handling    INTEGER NOT NULL,
  subscription_id    INTEGER,
  user_properties    TEXT,
  UNIQUE (client_id, filter)
);

-- rowid order is the order the messages were first sent, which a resumed session resends in [MQTT-4.6.0-1].
CREATE TABLE inflight (
  client_id        TEXT    NOT NULL,
  packet_id        INTEGER NOT NULL,
  message_id       INTEGER NOT NULL,
  qos              INTEGER NOT NULL,
  retain           INTEGER NOT NULL,
  state            TEXT    NOT NULL,
  subscription_ids TEXT,
  UNIQUE (client_id, packet_id)
);

CREATE TABLE incoming_qos2 (
  client_id TEXT    NOT NULL,
  packet_id INTEGER NOT NULL,
  PRIMARY KEY (client_id, packet_id)
) WITHOUT ROWID;

-- seq is contiguous per client: appended at the tail, removed at the head, so a queue's length is
-- tail - head, read from the index at start-up without touching the rows in between.
CREATE TABLE offline (
  client_id  TEXT    NOT NULL,
  seq        INTEGER NOT NULL,
  message_id INTEGER NOT NULL,
  PRIMARY KEY (client_id, seq)
) WITHOUT ROWID;

CREATE TABLE retained (
  topic      TEXT PRIMARY KEY,
  message_id INTEGER NOT NULL
);

CREATE TRIGGER offline_ref AFTER INSERT ON offline BEGIN
  UPDATE messages SET refs = refs + 1 WHERE id = NEW.message_id;
END;
CREATE TRIGGER offline_unref AFTER DELETE ON offline BEGIN
  UPDATE messages SET refs = refs - 1 WHERE id = OLD.message_id;
END;

CREATE TRIGGER inflight_ref AFTER INSERT ON inflight BEGIN
  UPDATE messages SET refs = refs + 1 WHERE id = NEW.message_id;
END;
CREATE TRIGGER inflight_reref AFTER UPDATE OF message_id ON inflight WHEN OLD.message_id IS NOT NEW.message_id BEGIN
  UPDATE messages SET refs = refs + 1 WHERE id = NEW.message_id;
  UPDATE messages SET refs = refs - 1 WHERE id = OLD.message_id;
END;
CREATE TRIGGER inflight_unref AFTER DELETE ON inflight BEGIN
  UPDATE messages SET refs = refs - 1 WHERE id = OLD.message_id;
END;

CREATE TRIGGER retained_ref AFTER INSERT ON retained BEGIN
  UPDATE messages SET refs = refs + 1 WHERE id = NEW.message_id;
END;
CREATE TRIGGER retained_reref AFTER UPDATE OF message_id ON retained WHEN OLD.message_id IS NOT NEW.message_id BEGIN
  UPDATE messages SET refs = refs + 1 WHERE id = NEW.message_id;
  UPDATE messages SET refs = refs - 1 WHERE id = OLD.message_id;
END;
CREATE TRIGGER retained_unref AFTER DELETE ON retained BEGIN
  UPDATE messages SET refs = refs - 1 WHERE id = OLD.message_id;
END;

CREATE TRIGGER will_ref AFTER INSERT ON sessions WHEN NEW.will_message_id IS NOT NULL BEGIN
  UPDATE messages SET refs = refs + 1 WHERE id = NEW.will_message_id;
END;
CREATE TRIGGER will_reref AFTER UPDATE OF will_message_id ON sessions
WHEN OLD.will_message_id IS NOT NEW.will_message_id BEGIN
  UPDATE messages SET refs = refs + 1 WHERE id = NEW.will_message_id;
  UPDATE messages SET refs = refs - 1 WHERE id = OLD.will_message_id;
END;
CREATE TRIGGER will_unref AFTER DELETE ON sessions WHEN OLD.will_message_id IS NOT NULL BEGIN
  UPDATE messages SET refs = refs - 1 WHERE id = OLD.will_message_id;
END;
`

/**
 * Append-only: a released migration is never edited. The queue engine adds its tables as the
 * next entry; a database migrates through every step it has not seen, each in one transaction.
 */
// Released incoming QoS 2 ids stay (released = 1) so a PUBREL repeated after a restart is recognised.
const V2 = `ALTER TABLE incoming_qos2 ADD COLUMN released INTEGER NOT NULL DEFAULT 0;`

// Offline appends are the hot write (every QoS 1/2 publish to an offline session): the insert
// counts its own reference (MessageStore.referenceFor), which saves the trigger's update and the
// row's pass through the garbage index; removal still decrements through offline_unref.
const V3 = `DROP TRIGGER offline_ref;`

// Offline queues as segments: one row per client per group commit holding every small message the
// client's queue got in it, encoded in one BLOB (segments.ts, stored-message.ts), instead of two
// rows per message. Indexed by the segment's LAST seq, so "drop the consumed segments" is
// `end_seq < head` and "read from the head" is `end_seq >= head`, both index range scans.
// A rowid table, not WITHOUT ROWID keyed by (client_id, end_seq): a segment is larger than a page
// can hold locally, and a seek through an index B-tree whose cells overflow reads every cell it
// compares whole (a 4-8 KiB copy per comparison); rows appended at the rowid's end compare
// integers, and the index entries stay small.
// A take can stop inside a segment, so the head is persisted (offline_heads). Large messages and
// every v3 entry stay in `offline` with their shared row; a queue is the union of both tables,
// ordered by seq.
const V4 = `
CREATE TABLE offline_segments (
  id        INTEGER PRIMARY KEY,
  client_id TEXT    NOT NULL,
  end_seq   INTEGER NOT NULL,
  first_seq INTEGER NOT NULL,
  data      BLOB    NOT NULL
);
CREATE UNIQUE INDEX offline_segments_queue ON offline_segments (client_id, end_seq);

CREATE TABLE offline_heads (
  client_id TEXT    NOT NULL PRIMARY KEY,
  head      INTEGER NOT NULL
) WITHOUT ROWID;
`

// Inflight messages inline: a message put inflight that has no `messages` row yet (one taken from
// an offline segment, or routed live to a connected session) and is small is stored in the
// inflight row itself (stored-message.ts, with message_id 0) instead of a messages row that the
// insert, the ref trigger, the PUBACK's delete, the unref trigger and the sweep each touch.
const V5 = `
ALTER TABLE inflight ADD COLUMN message BLOB;
DROP TRIGGER inflight_ref;
CREATE TRIGGER inflight_ref AFTER INSERT ON inflight WHEN NEW.message_id <> 0 BEGIN
  UPDATE messages SET refs = refs + 1 WHERE id = NEW.message_id;
END;
DROP TRIGGER inflight_unref;
CREATE TRIGGER inflight_unref AFTER DELETE ON inflight WHEN OLD.message_id <> 0 BEGIN
  UPDATE messages SET refs = refs - 1 WHERE id = OLD.message_id;
END;
`

// v6: the ownership epoch a session record was written under (cluster fencing); NULL for records
// written before epochs existed, which read back without one (epoch 0).
const V6 = `ALTER TABLE sessions ADD COLUMN epoch INTEGER;`

// v7: inflight rows hold the core's 32-bit delivery id instead of an MQTT packet id, and a
// protocol-neutral state. Every delivery id is at least 0x10000 and its low 16 bits are the packet
// id MQTT sends (core delivery-ids.ts): a stored packet id p becomes 0x10000 + p, so a delivery
// resent after the upgrade carries the packet id it was first sent with [MQTT-4.4.0-1].
const V7 = `
ALTER TABLE inflight RENAME COLUMN packet_id TO delivery_id;
UPDATE inflight SET delivery_id = delivery_id + 65536;
UPDATE inflight SET state = CASE state WHEN 'release' THEN 'received' ELSE 'delivered' END;
`

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, up: (db) => db.exec(V1) },
  { version: 2, up: (db) => db.exec(V2) },
  { version: 3, up: (db) => db.exec(V3) },
  { version: 4, up: (db) => db.exec(V4) },
  { version: 5, up: (db) => db.exec(V5) },
  { version: 6, up: (db) => db.exec(V6) },
  { version: 7, up: (db) => db.exec(V7) },
]

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0

/** Brings the schema to SCHEMA_VERSION; refuses a database this build cannot read. */
export function migrate(db: Database.Database, path: string, migrations: readonly Migration[] = MIGRATIONS): void {
  const latest = migrations[migrations.length - 1]?.version ?? 0
  const applicationId = db.pragma('application_id', { simple: true }) as number
  const version = db.pragma('user_version', { simple: true }) as number
  if (applicationId !== APPLICATION_ID && (applicationId !== 0 || hasTables(db))) {
    throw new StorageError(
      StorageErrorCode.Foreign,
      path,
      `not a FluxMQ database (application_id ${applicationId}); refusing to modify it`,
    )
  }
  if (version > latest) {
    throw new StorageError(
      StorageErrorCode.SchemaTooNew,
      path,
      `database schema version ${version} is newer than this build understands (${latest}); upgrade FluxMQ or point storage.dir elsewhere`,
    )
  }
  for (const migration of migrations) {
    if (migration.version <= version) continue
    db.transaction(() => {
      migration.up(db)
      db.pragma(`application_id = ${APPLICATION_ID}`)
      db.pragma(`user_version = ${migration.version}`)
    })()
  }
}

function hasTables(db: Database.Database): boolean {
  return db.prepare(`SELECT 1 FROM sqlite_schema WHERE type = 'table' LIMIT 1`).get() !== undefined
}
