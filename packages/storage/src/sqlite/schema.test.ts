import Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { StorageErrorCode } from '../errors.js'
import { APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION, migrate, type Migration } from './schema.js'

let db: Database.Database

beforeEach(() => {
  db = new Database(':memory:')
})

afterEach(() => {
  db.close()
})

const tables = (): string[] =>
  db.prepare(`SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name`).pluck().all() as string[]

describe('schema migrations', () => {
  it('numbers the shipped migrations 1, 2, … without gaps', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1))
    expect(SCHEMA_VERSION).toBe(MIGRATIONS.length)
  })

  it('brings a new database to the latest version and marks it as FluxMQ', () => {
    migrate(db, 'mem')
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION)
    expect(db.pragma('application_id', { simple: true })).toBe(APPLICATION_ID)
    expect(tables()).toEqual(['incoming_qos2', 'inflight', 'messages', 'offline', 'offline_heads', 'offline_segments', 'retained', 'sessions', 'subscriptions'])
  })

  it('v2: a version 1 database keeps its incoming QoS 2 ids as received and can mark them released', () => {
    migrate(db, 'mem', MIGRATIONS.slice(0, 1))
    db.prepare(`INSERT INTO sessions (client_id, protocol, expiry_interval) VALUES ('c', 'mqtt5', 60)`).run()
    db.prepare(`INSERT INTO incoming_qos2 (client_id, packet_id) VALUES ('c', 7)`).run()
    migrate(db, 'mem')
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION)
    expect(db.prepare('SELECT packet_id, released FROM incoming_qos2').all()).toEqual([{ packet_id: 7, released: 0 }])
  })

  it('v3: offline entries of a version 2 database keep their counted reference; removal still releases it', () => {
    migrate(db, 'mem', MIGRATIONS.slice(0, 2))
    db.prepare(`INSERT INTO messages (id, refs, topic, payload, qos, retain, published_at) VALUES (1, 0, 't', x'', 1, 0, 0)`).run()
    db.prepare(`INSERT INTO offline (client_id, seq, message_id) VALUES ('c', 0, 1)`).run()
    migrate(db, 'mem')
    const refs = () => db.prepare('SELECT refs FROM messages WHERE id = 1').pluck().get()
    expect(refs()).toBe(1)
    expect(db.prepare(`SELECT name FROM sqlite_schema WHERE name = 'offline_ref'`).get()).toBeUndefined()
    db.prepare(`DELETE FROM offline WHERE client_id = 'c'`).run()
    expect(refs()).toBe(0)
  })

  it('v6: sessions of a version 5 database read back without an epoch; new records carry theirs', () => {
    migrate(db, 'mem', MIGRATIONS.slice(0, 5))
    db.prepare(`INSERT INTO sessions (client_id, protocol, expiry_interval) VALUES ('c', 'mqtt5', 60)`).run()
    migrate(db, 'mem')
    expect(db.prepare('SELECT epoch FROM sessions').pluck().get()).toBeNull()
    db.prepare(`UPDATE sessions SET epoch = 7 WHERE client_id = 'c'`).run()
    expect(db.prepare('SELECT epoch FROM sessions').pluck().get()).toBe(7)
  })

  it('v5: inflight rows of a version 4 database keep referencing their message rows and release them', () => {
    migrate(db, 'mem', MIGRATIONS.slice(0, 4))
    db.prepare(`INSERT INTO messages (id, refs, topic, payload, qos, retain, published_at) VALUES (1, 0, 't', x'', 1, 0, 0)`).run()
    db.prepare(`INSERT INTO inflight (client_id, packet_id, message_id, qos, retain, state) VALUES ('c', 1, 1, 1, 0, 'publish')`).run()
    migrate(db, 'mem', MIGRATIONS.slice(0, 5))
    const refs = () => db.prepare('SELECT refs FROM messages WHERE id = 1').pluck().get()
    expect(refs()).toBe(1)
    expect(db.prepare('SELECT message FROM inflight').pluck().get()).toBeNull()
    db.prepare(`INSERT INTO inflight (client_id, packet_id, message_id, qos, retain, state) VALUES ('c', 2, 1, 1, 0, 'publish')`).run()
    expect(refs()).toBe(2)
    db.prepare(`DELETE FROM inflight`).run()
    expect(refs()).toBe(0)
  })

  it('v7: inflight packet ids of a version 6 database become delivery ids with the same low 16 bits [MQTT-4.4.0-1]', () => {
    migrate(db, 'mem', MIGRATIONS.slice(0, 6))
    db.prepare(`INSERT INTO messages (id, refs, topic, payload, qos, retain, published_at) VALUES (1, 0, 't', x'', 1, 0, 0)`).run()
    db.prepare(`INSERT INTO inflight (client_id, packet_id, message_id, qos, retain, state) VALUES ('c', 1, 1, 1, 0, 'publish')`).run()
    db.prepare(`INSERT INTO inflight (client_id, packet_id, message_id, qos, retain, state) VALUES ('c', 65535, 1, 2, 0, 'release')`).run()
    migrate(db, 'mem')
    const rows = db.prepare('SELECT delivery_id, state FROM inflight ORDER BY rowid').all() as { delivery_id: number; state: string }[]
    expect(rows).toEqual([
      { delivery_id: 0x10001, state: 'delivered' },
      { delivery_id: 0x1ffff, state: 'received' },
    ])
    expect(rows.map((r) => r.delivery_id & 0xffff)).toEqual([1, 65535])
    expect(db.prepare('SELECT refs FROM messages WHERE id = 1').pluck().get()).toBe(2)
  })

  it('runs only the steps a database has not seen, in order, and is a no-op when current', () => {
    const ran: number[] = []
    const steps = (n: number): Migration[] =>
      Array.from({ length: n }, (_, i) => ({
        version: i + 1,
        up: (d: Database.Database) => {
          ran.push(i + 1)
          d.exec(`CREATE TABLE t${i + 1} (x)`)
        },
      }))
    migrate(db, 'mem', steps(1))
    migrate(db, 'mem', steps(3))
    migrate(db, 'mem', steps(3))
    expect(ran).toEqual([1, 2, 3])
    expect(db.pragma('user_version', { simple: true })).toBe(3)
  })

  it('a failing step rolls back alone: the database stays at the previous version', () => {
    const steps: Migration[] = [
      { version: 1, up: (d) => d.exec('CREATE TABLE a (x)') },
      {
        version: 2,
        up: (d) => {
          d.exec('CREATE TABLE b (x)')
          throw new Error('step 2 broke')
        },
      },
    ]
    expect(() => migrate(db, 'mem', steps)).toThrow('step 2 broke')
    expect(db.pragma('user_version', { simple: true })).toBe(1)
    expect(tables()).toEqual(['a'])
  })

  it('refuses a schema newer than the steps it knows', () => {
    migrate(db, 'mem')
    db.pragma(`user_version = ${SCHEMA_VERSION + 3}`)
    expect(() => migrate(db, 'mem')).toThrow(expect.objectContaining({ code: StorageErrorCode.SchemaTooNew }))
  })
})
