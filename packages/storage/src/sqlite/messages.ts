import type { Message, MessageProperties, QoS, UserProperty } from '@fluxmq/core'
import type Database from 'better-sqlite3'

/**
 * The columns of one stored Message, in messageValues order: the session store's `messages` table
 * (schema v1 is made of them: never edit, migrate) and the queue engine's log.
 */
export const MESSAGE_FIELD_COLUMNS = `topic            TEXT    NOT NULL,
  payload          BLOB    NOT NULL,
  qos              INTEGER NOT NULL,
  retain           INTEGER NOT NULL,
  published_at     INTEGER NOT NULL,
  expires_at       INTEGER,
  publisher_id     TEXT,
  payload_format   INTEGER,
  content_type     TEXT,
  response_topic   TEXT,
  correlation_data BLOB,
  user_properties  TEXT`

/** Their names, for an INSERT that binds messageValues. */
export const MESSAGE_FIELD_NAMES =
  'topic, payload, qos, retain, published_at, expires_at, publisher_id, payload_format, content_type, response_topic, correlation_data, user_properties'

/** Selects them as decodeMessageRow reads them (table alias `m`). */
export const MESSAGE_FIELDS_SELECTED = `m.topic AS m_topic, m.payload AS m_payload, m.qos AS m_qos,
  m.retain AS m_retain, m.published_at AS m_published_at, m.expires_at AS m_expires_at,
  m.publisher_id AS m_publisher_id, m.payload_format AS m_payload_format, m.content_type AS m_content_type,
  m.response_topic AS m_response_topic, m.correlation_data AS m_correlation_data,
  m.user_properties AS m_user_properties`

/** The message columns every query that returns messages selects (table alias `m`). */
export const MESSAGE_COLUMNS = `m.id AS m_id, ${MESSAGE_FIELDS_SELECTED}`

function insertSql(refs: 0 | 1): string {
  return `INSERT INTO messages (id, refs, ${MESSAGE_FIELD_NAMES}) VALUES (?, ${refs}, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
}

/** A message's values for MESSAGE_FIELD_NAMES, in that order. */
export function messageValues(message: Message): unknown[] {
  const p = message.properties
  return [
    message.topic,
    message.payload,
    message.qos,
    message.retain ? 1 : 0,
    message.publishedAt,
    message.expiresAt ?? null,
    message.publisherId ?? null,
    p.payloadFormatIndicator === undefined ? null : p.payloadFormatIndicator ? 1 : 0,
    p.contentType ?? null,
    p.responseTopic ?? null,
    p.correlationData ?? null,
    p.userProperties === undefined ? null : JSON.stringify(p.userProperties),
  ]
}

/** The Message a row selected with MESSAGE_FIELDS_SELECTED holds. */
export function decodeMessageRow(row: MessageFieldsRow): Message {
  const properties: MessageProperties = {}
  if (row.m_payload_format !== null) properties.payloadFormatIndicator = row.m_payload_format === 1
  if (row.m_content_type !== null) properties.contentType = row.m_content_type
  if (row.m_response_topic !== null) properties.responseTopic = row.m_response_topic
  if (row.m_correlation_data !== null) properties.correlationData = row.m_correlation_data
  if (row.m_user_properties !== null) {
    properties.userProperties = JSON.parse(row.m_user_properties) as readonly UserProperty[]
  }
  return {
    topic: row.m_topic,
    payload: row.m_payload,
    qos: row.m_qos as QoS,
    retain: row.m_retain === 1,
    properties,
    publishedAt: row.m_published_at,
    ...(row.m_expires_at === null ? {} : { expiresAt: row.m_expires_at }),
    ...(row.m_publisher_id === null ? {} : { publisherId: row.m_publisher_id }),
  }
}

/** Deletes unreferenced rows; the partial index messages_garbage makes it touch only those. */
export const GARBAGE_SWEEP_SQL = 'DELETE FROM messages WHERE refs = 0'

export interface MessageFieldsRow {
  readonly m_topic: string
  readonly m_payload: Buffer
  readonly m_qos: number
  readonly m_retain: number
  readonly m_published_at: number
  readonly m_expires_at: number | null
  readonly m_publisher_id: string | null
  readonly m_payload_format: number | null
  readonly m_content_type: string | null
  readonly m_response_topic: string | null
  readonly m_correlation_data: Buffer | null
  readonly m_user_properties: string | null
}

export interface MessageRow extends MessageFieldsRow {
  readonly m_id: number
}

/**
 * The messages table: stores each Message object once however many places reference it, and
 * turns rows back into Messages. Ids are allocated here (never reused while the process runs),
 * so a Message remembers its row across transactions through a WeakMap; the row may have been
 * garbage-collected since, which `idFor` checks before reusing it.
 *
 * A row written for an offline append is remembered only as the last one written, not in the
 * WeakMap: one publish reaches all its offline queues consecutively, and a WeakMap entry per
 * stored publish costs the garbage collector more than the append itself (about 20% of the
 * storage-only append rate).
 */
export class MessageStore {
  private readonly ids = new WeakMap<Message, number>()
  private lastMessage: Message | undefined
  private lastId = 0
  private nextId: number
  private readonly insert: Database.Statement
  private readonly insertReferenced: Database.Statement
  private readonly exists: Database.Statement
  private readonly addReference: Database.Statement
  private readonly sweep: Database.Statement

  constructor(db: Database.Database) {
    this.insert = db.prepare(insertSql(0))
    this.insertReferenced = db.prepare(insertSql(1))
    this.exists = db.prepare('SELECT 1 FROM messages WHERE id = ?').pluck()
    this.addReference = db.prepare('UPDATE messages SET refs = refs + 1 WHERE id = ?')
    this.sweep = db.prepare(GARBAGE_SWEEP_SQL)
    const max = db.prepare('SELECT MAX(id) FROM messages').pluck().get() as number | null
    this.nextId = (max ?? 0) + 1
  }

  /** The row holding `message`, written now if it has none. Call inside a transaction; the caller references it. */
  idFor(message: Message): number {
    const existing = this.existingId(message)
    if (existing !== undefined) return existing
    const id = this.write(message, this.insert)
    this.ids.set(message, id)
    return id
  }

  /** The row holding `message` if it has one that still exists. */
  existingId(message: Message): number | undefined {
    const known = this.known(message)
    return known !== undefined && this.exists.get(known) !== undefined ? known : undefined
  }

  /**
   * Like idFor, and also counts the caller's reference, for tables without a reference trigger
   * (offline): one statement per message instead of an insert, a trigger's update and the
   * garbage index entry the row would have had at zero references in between.
   */
  referenceFor(message: Message): number {
    const known = this.known(message)
    if (known !== undefined && this.addReference.run(known).changes === 1) return known
    return this.write(message, this.insertReferenced)
  }

  private known(message: Message): number | undefined {
    return message === this.lastMessage ? this.lastId : this.ids.get(message)
  }

  private write(message: Message, insert: Database.Statement): number {
    const id = this.nextId++
    insert.run(id, ...messageValues(message))
    this.lastMessage = message
    this.lastId = id
    return id
  }

  /** Deletes the rows nothing references any more; the last statement of every transaction. */
  collectGarbage(): void {
    this.sweep.run()
  }

  /** Decodes a row and remembers it, so writing the same object back reuses the row. */
  fromRow(row: MessageRow): Message {
    const message = decodeMessageRow(row)
    this.ids.set(message, row.m_id)
    return message
  }
}
