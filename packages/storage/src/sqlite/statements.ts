import type Database from 'better-sqlite3'
import { MESSAGE_COLUMNS } from './messages.js'

/** Every statement a write or a read runs after start-up. */
export const STATEMENT_SQL = {
  upsertSession: `INSERT INTO sessions
    (client_id, protocol, expiry_interval, disconnected_at, will_message_id, will_delay, epoch) VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (client_id) DO UPDATE SET protocol = excluded.protocol, expiry_interval = excluded.expiry_interval,
      disconnected_at = excluded.disconnected_at, will_message_id = excluded.will_message_id,
      will_delay = excluded.will_delay, epoch = excluded.epoch`,
  deleteSession: 'DELETE FROM sessions WHERE client_id = ?',
  deleteSessionSubscriptions: 'DELETE FROM subscriptions WHERE client_id = ?',
  deleteSessionInflight: 'DELETE FROM inflight WHERE client_id = ?',
  deleteSessionIncomingQos2: 'DELETE FROM incoming_qos2 WHERE client_id = ?',
  deleteSessionOffline: 'DELETE FROM offline WHERE client_id = ?',
  deleteSessionSegments: 'DELETE FROM offline_segments WHERE client_id = ?',
  deleteSessionHead: 'DELETE FROM offline_heads WHERE client_id = ?',

  upsertSubscription: `INSERT INTO subscriptions (client_id, filter, qos, no_local, retain_as_published,
      retain_handling, subscription_id, user_properties) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (client_id, filter) DO UPDATE SET qos = excluded.qos, no_local = excluded.no_local,
      retain_as_published = excluded.retain_as_published, retain_handling = excluded.retain_handling,
      subscription_id = excluded.subscription_id, user_properties = excluded.user_properties`,
  deleteSubscription: 'DELETE FROM subscriptions WHERE client_id = ? AND filter = ?',

  insertIncomingQos2: `INSERT INTO incoming_qos2 (client_id, packet_id, released) VALUES (?, ?, 0)
    ON CONFLICT (client_id, packet_id) DO UPDATE SET released = 0`,
  releaseIncomingQos2: 'UPDATE incoming_qos2 SET released = 1 WHERE client_id = ? AND packet_id = ?',
  deleteIncomingQos2: 'DELETE FROM incoming_qos2 WHERE client_id = ? AND packet_id = ?',

  insertOffline: 'INSERT INTO offline (client_id, seq, message_id) VALUES (?, ?, ?)',
  insertSegment: 'INSERT INTO offline_segments (client_id, end_seq, first_seq, data) VALUES (?, ?, ?, ?)',
  /** Removing a queue's head: every large entry and every whole segment below the new head ... */
  deleteOfflineBelow: 'DELETE FROM offline WHERE client_id = ? AND seq < ?',
  deleteSegmentsBelow: 'DELETE FROM offline_segments WHERE client_id = ? AND end_seq < ?',
  /** ... and the new head, since it may fall inside a segment; an emptied queue has no head row. */
  upsertHead: `INSERT INTO offline_heads (client_id, head) VALUES (?, ?)
    ON CONFLICT (client_id) DO UPDATE SET head = excluded.head`,
  deleteHead: 'DELETE FROM offline_heads WHERE client_id = ?',
  /** Large entries with seq in [?, ?). */
  readOffline: `SELECT o.seq, ${MESSAGE_COLUMNS} FROM offline o JOIN messages m ON m.id = o.message_id
    WHERE o.client_id = ? AND o.seq >= ? AND o.seq < ? ORDER BY o.seq`,
  /** Segments from the one holding the head on; the reader stops at the first past what it takes. */
  readSegments: 'SELECT first_seq, data FROM offline_segments WHERE client_id = ? AND end_seq >= ? ORDER BY end_seq',

  upsertRetained: `INSERT INTO retained (topic, message_id) VALUES (?, ?)
    ON CONFLICT (topic) DO UPDATE SET message_id = excluded.message_id`,
  deleteRetained: 'DELETE FROM retained WHERE topic = ?',
} as const

export type Statements = { readonly [name in keyof typeof STATEMENT_SQL]: Database.Statement }

/** Prepared once per open database and reused for its lifetime. */
export function prepareStatements(db: Database.Database): Statements {
  const prepared: Partial<Record<keyof typeof STATEMENT_SQL, Database.Statement>> = {}
  for (const name of Object.keys(STATEMENT_SQL) as (keyof typeof STATEMENT_SQL)[]) {
    prepared[name] = db.prepare(STATEMENT_SQL[name])
  }
  return prepared as Statements
}

/**
 * The start-up reads. None of them visits offline entries: queues are located by stepping from
 * one client id to the next in the primary key and reading each queue's two ends, so start-up
 * costs O(queues · log entries) however many messages wait.
 */
export const LOAD_SQL = {
  sessions: `SELECT s.client_id, s.protocol, s.expiry_interval, s.disconnected_at, s.will_delay, s.epoch, ${MESSAGE_COLUMNS}
    FROM sessions s LEFT JOIN messages m ON m.id = s.will_message_id`,
  subscriptions: `SELECT client_id, filter, qos, no_local, retain_as_published, retain_handling, subscription_id,
    user_properties FROM subscriptions ORDER BY rowid`,
  inflight: `SELECT i.client_id, i.delivery_id, i.qos AS delivery_qos, i.retain AS delivery_retain, i.state,
    i.subscription_ids, i.message AS inline_message, ${MESSAGE_COLUMNS}
    FROM inflight i LEFT JOIN messages m ON m.id = i.message_id ORDER BY i.rowid`,
  incomingQos2: 'SELECT client_id, packet_id, released FROM incoming_qos2',
  retained: `SELECT ${MESSAGE_COLUMNS} FROM retained r JOIN messages m ON m.id = r.message_id`,
  // A queue lives in two tables (large entries in offline, the rest in offline_segments): each
  // step takes the smaller next client id of the two, each end the outer one of the two.
  firstQueue: 'SELECT MIN(client_id) FROM offline',
  nextQueue: 'SELECT MIN(client_id) FROM offline WHERE client_id > ?',
  queueHead: 'SELECT seq FROM offline WHERE client_id = ? ORDER BY seq LIMIT 1',
  queueLast: 'SELECT seq FROM offline WHERE client_id = ? ORDER BY seq DESC LIMIT 1',
  firstSegmentQueue: 'SELECT MIN(client_id) FROM offline_segments',
  nextSegmentQueue: 'SELECT MIN(client_id) FROM offline_segments WHERE client_id > ?',
  segmentHead: 'SELECT first_seq FROM offline_segments WHERE client_id = ? ORDER BY end_seq LIMIT 1',
  segmentLast: 'SELECT end_seq FROM offline_segments WHERE client_id = ? ORDER BY end_seq DESC LIMIT 1',
  storedHead: 'SELECT head FROM offline_heads WHERE client_id = ?',
} as const
