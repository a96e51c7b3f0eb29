import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Logger, Message } from '@fluxmq/core'
import { runUntilKilled } from '@fluxmq/testing'
import Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { storageConformanceSuite } from './conformance.js'
import { StorageError, StorageErrorCode } from './errors.js'
import { DATABASE_FILE, openDatabase } from './sqlite/database.js'
import { GARBAGE_SWEEP_SQL } from './sqlite/messages.js'
import { INLINE_PAYLOAD_LIMIT, SEGMENT_LIMIT } from './sqlite/segments.js'
import { MIGRATIONS, SCHEMA_VERSION, migrate } from './sqlite/schema.js'
import { LOAD_SQL, STATEMENT_SQL } from './sqlite/statements.js'
import { SqliteStorage } from './sqlite/sqlite-storage.js'

for (const sync of ['normal', 'full'] as const) {
  storageConformanceSuite(`SqliteStorage (sync: ${sync})`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fluxmq-storage-'))
    return {
      storage: new SqliteStorage({ dir, sync }),
      reopen: async () => new SqliteStorage({ dir, sync }),
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    }
  })
}

let dir: string
const opened: SqliteStorage[] = []

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fluxmq-sqlite-'))
})

afterEach(async () => {
  for (const storage of opened.splice(0)) await storage.close().catch(() => undefined)
  rmSync(dir, { recursive: true, force: true })
})

function store(options: { sync?: 'normal' | 'full'; logger?: Logger; at?: string } = {}): SqliteStorage {
  const storage = new SqliteStorage({ dir: options.at ?? dir, sync: options.sync ?? 'normal', logger: options.logger })
  opened.push(storage)
  return storage
}

/** A payload too large to be copied into segments: it gets a shared message row. */
function large(): Buffer {
  return Buffer.alloc(INLINE_PAYLOAD_LIMIT + 1, 9)
}

let seq = 0
function message(overrides: Partial<Message> = {}): Message {
  seq += 1
  return { topic: `t/${seq}`, payload: Buffer.from(`p${seq}`), qos: 1, retain: false, properties: {}, publishedAt: seq, ...overrides }
}

/** Reads the closed database file directly. */
function inspect<T>(query: string): T[] {
  const db = new Database(join(dir, DATABASE_FILE), { readonly: true })
  try {
    return db.prepare(query).all() as T[]
  } finally {
    db.close()
  }
}

async function rejection(promise: Promise<unknown>): Promise<StorageError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(StorageError)
  return error as StorageError
}

describe('SqliteStorage: opening', () => {
  it('creates <dir>/fluxmq.db, creating missing directories, in WAL mode', async () => {
    const nested = join(dir, 'a', 'b')
    const storage = store({ at: nested })
    await storage.open()
    await storage.close()
    expect(existsSync(join(nested, DATABASE_FILE))).toBe(true)
    const { db } = openDatabaseAfterClose(nested)
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal')
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION)
    db.close()
  })

  it('maps sync: normal to synchronous=NORMAL and full to synchronous=FULL', () => {
    const normal = openDatabase(join(dir, 'n'), 'normal').db
    const full = openDatabase(join(dir, 'f'), 'full').db
    expect(normal.pragma('synchronous', { simple: true })).toBe(1)
    expect(full.pragma('synchronous', { simple: true })).toBe(2)
    normal.close()
    full.close()
  })

  it('refuses a database whose schema is newer than this build, naming the file and both versions', async () => {
    await store().open()
    await opened[0]?.close()
    const db = new Database(join(dir, DATABASE_FILE))
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`)
    db.close()
    const error = await rejection(store().open())
    expect(error.code).toBe(StorageErrorCode.SchemaTooNew)
    expect(error.path).toBe(join(dir, DATABASE_FILE))
    expect(error.message).toContain(`version ${SCHEMA_VERSION + 1}`)
    expect(error.message).toContain(join(dir, DATABASE_FILE))
  })

  it('stops on a file that is not a database, names it and the reason, and leaves it untouched', async () => {
    const garbage = Buffer.from('this is not an SQLite database '.repeat(200))
    writeFileSync(join(dir, DATABASE_FILE), garbage)
    const error = await rejection(store().open())
    expect(error.code).toBe(StorageErrorCode.Corrupt)
    expect(error.path).toBe(join(dir, DATABASE_FILE))
    expect(error.message).toMatch(/file is not a database/)
    expect(readFileSync(join(dir, DATABASE_FILE)).equals(garbage)).toBe(true)
  })

  it('stops on a database whose pages are damaged instead of starting empty', async () => {
    const storage = store()
    await storage.open()
    for (let i = 0; i < 200; i++) storage.putRetained(message({ topic: `r/${i}`, payload: Buffer.alloc(2000, i) }))
    await storage.close()
    const file = join(dir, DATABASE_FILE)
    const bytes = readFileSync(file)
    const pageSize = bytes.readUInt16BE(16)
    // Overwrite everything after the first page (schema) with garbage.
    bytes.fill(0xa5, pageSize)
    writeFileSync(file, bytes)
    const error = await rejection(store().open())
    expect(error.code).toBe(StorageErrorCode.Corrupt)
    expect(error.path).toBe(file)
  })

  it('refuses an SQLite database another application made', async () => {
    const db = new Database(join(dir, DATABASE_FILE))
    db.exec('CREATE TABLE unrelated (x)')
    db.close()
    const error = await rejection(store().open())
    expect(error.code).toBe(StorageErrorCode.Foreign)
    expect(inspect<{ name: string }>(`SELECT name FROM sqlite_schema WHERE type = 'table'`)).toEqual([{ name: 'unrelated' }])
  })

  it('reports a storage directory it cannot create', async () => {
    const file = join(dir, 'not-a-directory')
    writeFileSync(file, 'x')
    const error = await rejection(store({ at: join(file, 'sub') }).open())
    expect(error.code).toBe(StorageErrorCode.Open)
    expect(error.path).toBe(join(file, 'sub'))
  })

  it('refuses a second store on a directory another one has open', async () => {
    await store().open()
    const error = await rejection(store().open())
    expect(error.code).toBe(StorageErrorCode.Locked)
  })

  it('refuses use before open and after close', async () => {
    const storage = store()
    expect(() => storage.putSession({ clientId: 'c', protocol: 'mqtt5', expiryInterval: 0 })).toThrow(StorageError)
    await storage.open()
    await storage.close()
    expect(() => storage.appendOffline('c', message())).toThrow(/not open/)
    expect((await rejection(storage.sync())).code).toBe(StorageErrorCode.Closed)
    expect((await rejection(storage.open())).code).toBe(StorageErrorCode.Closed)
  })
})

describe('SqliteStorage: group commit', () => {
  it('commits every write of one event-loop turn in one transaction; one client\'s appends are one operation', async () => {
    const storage = store()
    await storage.open()
    storage.putSession({ clientId: 'c', protocol: 'mqtt5', expiryInterval: 60 })
    for (let i = 0; i < 1000; i++) storage.appendOffline('c', message())
    expect(storage.stats.commits).toBe(0)
    await storage.sync()
    // The session, the new queue's reset of a head row an earlier run may have left, one segment.
    expect(storage.stats).toEqual({ commits: 1, operations: 3 })
    await storage.close()
    expect(inspect('SELECT first_seq, end_seq FROM offline_segments')).toEqual([{ first_seq: 0, end_seq: 999 }])
  })

  it('a failed commit rejects sync(), is logged once, and nothing after it is written', async () => {
    const logger = { debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn(), child: vi.fn() }
    const storage = store({ logger })
    await storage.open()
    storage.putRetained(message({ topic: 'kept' }))
    await storage.sync()
    storage.putRetained(message({ topic: 'lost' }))
    // NaN binds as NULL and violates NOT NULL: the whole batch rolls back.
    storage.putRetained(message({ topic: 'bad', publishedAt: Number.NaN }))
    const error = await rejection(storage.sync())
    expect(error.code).toBe(StorageErrorCode.Commit)
    expect(error.message).toMatch(/NOT NULL/)
    expect(storage.failure).toBe(error)
    storage.putRetained(message({ topic: 'after' }))
    expect(await rejection(storage.sync())).toBe(error)
    await expect(storage.takeOffline('c', 1)).resolves.toEqual([])
    expect(logger.error).toHaveBeenCalledTimes(1)
    await storage.close()
    expect(inspect<{ topic: string }>('SELECT topic FROM retained')).toEqual([{ topic: 'kept' }])
  })
})

describe('SqliteStorage: inflight writes joined', () => {
  const publish = (deliveryId: number, m: Message = message()) => ({ deliveryId, message: m, qos: 1 as const, retain: false, state: 'delivered' as const })

  it('[MQTT-4.6.0-1] consecutive puts of any clients are one operation, rows kept in call order, a repeated key updated', async () => {
    const storage = store()
    await storage.open()
    for (const clientId of ['a', 'b']) storage.putSession({ clientId, protocol: 'mqtt5', expiryInterval: 60 })
    await storage.sync()
    const before = storage.stats.operations
    // 150 rows: three statements (64, 64, 22), one of them carrying a large message by reference.
    for (let i = 1; i <= 75; i++) {
      storage.putInflight('a', publish(i, i === 70 ? message({ payload: large() }) : undefined))
      storage.putInflight('b', publish(i))
    }
    storage.putInflight('a', { ...publish(3), state: 'received' })
    await storage.sync()
    expect(storage.stats.operations - before).toBe(1)
    await storage.close()
    const rows = inspect<{ client_id: string; delivery_id: number; state: string; message_id: number }>(
      'SELECT client_id, delivery_id, state, message_id FROM inflight ORDER BY rowid',
    )
    expect(rows).toHaveLength(150)
    expect(rows.slice(0, 6).map((r) => `${r.client_id}${r.delivery_id} ${r.state}`)).toEqual([
      'a1 delivered', 'b1 delivered', 'a2 delivered', 'b2 delivered', 'a3 received', 'b3 delivered',
    ])
    expect(rows.filter((r) => r.message_id !== 0)).toEqual([{ client_id: 'a', delivery_id: 70, state: 'delivered', message_id: expect.any(Number) }])
    const state = await store().open()
    const a = state.sessions.find((s) => s.session.clientId === 'a')
    expect(a?.inflight.map((r) => r.deliveryId)).toEqual(Array.from({ length: 75 }, (_, i) => i + 1))
    expect(a?.inflight[69]?.message.payload).toEqual(large())
  })

  it('consecutive deletes of one client are one operation; another client or another write in between starts a new one', async () => {
    const storage = store()
    await storage.open()
    for (let i = 1; i <= 140; i++) storage.putInflight('a', publish(i))
    storage.putInflight('b', publish(1))
    await storage.sync()
    const before = storage.stats.operations
    // 130 ids: three statements (64, 64, 2).
    for (let i = 1; i <= 130; i++) storage.deleteInflight('a', i)
    storage.deleteInflight('b', 1)
    storage.deleteInflight('a', 131)
    storage.putIncomingQos2('a', 9)
    storage.deleteInflight('a', 132)
    await storage.sync()
    expect(storage.stats.operations - before).toBe(5)
    // Committed runs are not extended: this one is a new operation.
    storage.deleteInflight('a', 133)
    await storage.sync()
    expect(storage.stats.operations - before).toBe(6)
    await storage.close()
    expect(inspect('SELECT client_id, delivery_id FROM inflight ORDER BY rowid')).toEqual(
      Array.from({ length: 7 }, (_, i) => ({ client_id: 'a', delivery_id: 134 + i })),
    )
  })

  it('a put and a delete of the same key in one batch apply in call order', async () => {
    const storage = store()
    await storage.open()
    storage.putInflight('a', publish(1))
    storage.deleteInflight('a', 1)
    storage.putInflight('a', publish(2))
    storage.deleteInflight('a', 2)
    storage.putInflight('a', publish(2))
    await storage.close()
    expect(inspect('SELECT delivery_id FROM inflight')).toEqual([{ delivery_id: 2 }])
  })
})

describe('SqliteStorage: message rows', () => {
  it('stores a Message appended to many offline queues once, and deletes it when the last is taken', async () => {
    const storage = store()
    await storage.open()
    const shared = message({ payload: Buffer.alloc(10_000, 7) })
    for (let i = 0; i < 100; i++) {
      storage.putSession({ clientId: `c${i}`, protocol: 'mqtt5', expiryInterval: 60 })
      storage.appendOffline(`c${i}`, shared)
    }
    await storage.close()
    expect(inspect('SELECT id, refs FROM messages')).toEqual([{ id: 1, refs: 100 }])

    const reopened = store()
    await reopened.open()
    for (let i = 0; i < 99; i++) await reopened.takeOffline(`c${i}`, 10)
    await reopened.sync()
    reopened.deleteSession('c99')
    await reopened.close()
    expect(inspect('SELECT id FROM messages')).toEqual([])
  })

  it('counts a large offline entry\'s reference once whether the message row is new or already held elsewhere', async () => {
    const storage = store()
    await storage.open()
    storage.putSession({ clientId: 'c', protocol: 'mqtt5', expiryInterval: 60 })
    const retained = message({ topic: 'kept', retain: true, payload: large() })
    storage.putRetained(retained)
    await storage.sync()
    storage.appendOffline('c', retained)
    storage.appendOffline('c', message({ topic: 'fresh', payload: large() }))
    await storage.close()
    expect(inspect('SELECT topic, refs FROM messages ORDER BY id')).toEqual([
      { topic: 'kept', refs: 2 },
      { topic: 'fresh', refs: 1 },
    ])

    const reopened = store()
    await reopened.open()
    await reopened.takeOffline('c', 2)
    await reopened.close()
    expect(inspect('SELECT topic, refs FROM messages')).toEqual([{ topic: 'kept', refs: 1 }])
  })

  it('a large publish appended to offline queues and then retained shares one row', async () => {
    const storage = store()
    await storage.open()
    const published = message({ topic: 'both', retain: true, payload: large() })
    for (const clientId of ['a', 'b']) {
      storage.putSession({ clientId, protocol: 'mqtt5', expiryInterval: 60 })
      storage.appendOffline(clientId, published)
    }
    storage.putRetained(published)
    await storage.close()
    expect(inspect('SELECT id, refs FROM messages')).toEqual([{ id: 1, refs: 3 }])
    expect(inspect('SELECT client_id FROM offline_segments')).toEqual([])
  })

  it(`copies a message whose payload is at most ${INLINE_PAYLOAD_LIMIT} bytes into each queue's segment, with no message row`, async () => {
    const storage = store()
    await storage.open()
    const published = message({ topic: 'small', payload: Buffer.alloc(INLINE_PAYLOAD_LIMIT, 1) })
    for (const clientId of ['a', 'b']) {
      storage.putSession({ clientId, protocol: 'mqtt5', expiryInterval: 60 })
      storage.appendOffline(clientId, published)
    }
    await storage.close()
    expect(inspect('SELECT id FROM messages')).toEqual([])
    expect(inspect('SELECT client_id, first_seq, end_seq FROM offline_segments ORDER BY client_id')).toEqual([
      { client_id: 'a', first_seq: 0, end_seq: 0 },
      { client_id: 'b', first_seq: 0, end_seq: 0 },
    ])
    const reopened = store()
    await reopened.open()
    expect(await reopened.takeOffline('b', 1)).toEqual([published])
  })

  it('a large message taken from the offline queue and put inflight in one turn keeps its row', async () => {
    const storage = store()
    await storage.open()
    storage.putSession({ clientId: 'c', protocol: 'mqtt5', expiryInterval: 60 })
    storage.appendOffline('c', message({ payload: large() }))
    await storage.sync()
    const [taken] = await storage.takeOffline('c', 1)
    if (taken === undefined) throw new Error('nothing taken')
    storage.putInflight('c', { deliveryId: 1, message: taken, qos: 1, retain: false, state: 'delivered' })
    await storage.close()
    expect(inspect('SELECT id, refs FROM messages')).toEqual([{ id: 1, refs: 1 }])
    expect(inspect('SELECT client_id FROM offline')).toEqual([])
    expect(inspect('SELECT message_id, message FROM inflight')).toEqual([{ message_id: 1, message: null }])
  })

  it('a small message without a row is copied into its inflight row: no message row is written or left behind', async () => {
    const storage = store()
    await storage.open()
    storage.putSession({ clientId: 'c', protocol: 'mqtt5', expiryInterval: 60 })
    const small = message({ properties: { userProperties: [['k', 'v']] }, publisherId: 'p' })
    storage.appendOffline('c', small)
    await storage.sync()
    const [taken] = await storage.takeOffline('c', 1)
    if (taken === undefined) throw new Error('nothing taken')
    storage.putInflight('c', { deliveryId: 1, message: taken, qos: 1, retain: false, state: 'delivered' })
    storage.putInflight('c', { deliveryId: 2, message: message(), qos: 1, retain: false, state: 'delivered' })
    await storage.close()
    expect(inspect('SELECT id FROM messages')).toEqual([])
    expect(inspect('SELECT delivery_id, message_id FROM inflight ORDER BY rowid')).toEqual([
      { delivery_id: 1, message_id: 0 },
      { delivery_id: 2, message_id: 0 },
    ])
    const reopened = store()
    const state = await reopened.open()
    expect(state.sessions[0]?.inflight[0]?.message).toEqual(small)
    reopened.deleteInflight('c', 1)
    reopened.deleteInflight('c', 2)
    await reopened.close()
    expect(inspect('SELECT delivery_id FROM inflight')).toEqual([])
  })

  it('loads a large message held in several places as one shared object', async () => {
    const storage = store()
    await storage.open()
    // Small messages put inflight are copies (one object each after a restart); large ones share a row.
    const shared = message({ topic: 'shared', retain: true, payload: large() })
    for (const clientId of ['a', 'b']) {
      storage.putSession({ clientId, protocol: 'mqtt5', expiryInterval: 60 })
      storage.putInflight(clientId, { deliveryId: 1, message: shared, qos: 1, retain: false, state: 'delivered' })
    }
    storage.putRetained(shared)
    await storage.close()
    const state = await store().open()
    const held = [...state.sessions.map((s) => s.inflight[0]?.message), state.retained[0]]
    expect(held[0]).toEqual(shared)
    expect(new Set(held).size).toBe(1)
  })

  it('never writes the adapter cache `wire`', async () => {
    const storage = store()
    await storage.open()
    storage.putRetained({ ...message({ topic: 'w' }), wire: { mqtt5: Buffer.from('encoded') } })
    await storage.close()
    const [loaded] = (await store().open()).retained
    expect(loaded !== undefined && 'wire' in loaded).toBe(false)
  })
})

describe('SqliteStorage: offline segments', () => {
  const topicsOf = (messages: readonly Message[]): string[] => messages.map((m) => m.topic)
  const persistent = (storage: SqliteStorage, clientId: string): void =>
    storage.putSession({ clientId, protocol: 'mqtt5', expiryInterval: 60 })
  const countOf = (state: { sessions: readonly { session: { clientId: string }; offlineCount: number }[] }, clientId: string) =>
    state.sessions.find((s) => s.session.clientId === clientId)?.offlineCount

  it('a take that stops inside a segment persists the head; the rest survives close and reopen', async () => {
    const storage = store()
    await storage.open()
    persistent(storage, 'c')
    for (let i = 0; i < 10; i++) storage.appendOffline('c', message({ topic: `s/${i}` }))
    await storage.sync()
    expect(topicsOf(await storage.takeOffline('c', 3))).toEqual(['s/0', 's/1', 's/2'])
    await storage.close()
    expect(inspect('SELECT client_id, head FROM offline_heads')).toEqual([{ client_id: 'c', head: 3 }])
    expect(inspect('SELECT first_seq, end_seq FROM offline_segments')).toEqual([{ first_seq: 0, end_seq: 9 }])

    const reopened = store()
    expect(countOf(await reopened.open(), 'c')).toBe(7)
    expect(topicsOf(await reopened.takeOffline('c', 4))).toEqual(['s/3', 's/4', 's/5', 's/6'])
    expect(topicsOf(await reopened.takeOffline('c', 100))).toEqual(['s/7', 's/8', 's/9'])
    await reopened.close()
    expect(inspect('SELECT end_seq FROM offline_segments')).toEqual([])
  })

  it('an emptied queue starts again at seq 0 after a restart and keeps its order', async () => {
    const storage = store()
    await storage.open()
    persistent(storage, 'c')
    for (let i = 0; i < 3; i++) storage.appendOffline('c', message({ topic: `old/${i}` }))
    await storage.takeOffline('c', 3)
    await storage.close()
    const reopened = store()
    expect(countOf(await reopened.open(), 'c')).toBe(0)
    reopened.appendOffline('c', message({ topic: 'new/0' }))
    reopened.appendOffline('c', message({ topic: 'new/1' }))
    await reopened.close()
    // The head row the emptied queue left (3) went with the first append of the new queue.
    expect(inspect('SELECT first_seq, end_seq FROM offline_segments')).toEqual([{ first_seq: 0, end_seq: 1 }])
    expect(inspect('SELECT head FROM offline_heads')).toEqual([])
    const again = store()
    expect(countOf(await again.open(), 'c')).toBe(2)
    expect(topicsOf(await again.takeOffline('c', 10))).toEqual(['new/0', 'new/1'])
  })

  it('a queue emptied by a drop and appended to in the same batch keeps only the new appends', async () => {
    const storage = store()
    await storage.open()
    persistent(storage, 'c')
    for (let i = 0; i < 3; i++) storage.appendOffline('c', message({ topic: `old/${i}` }))
    storage.dropOldestOffline('c', 3)
    storage.appendOffline('c', message({ topic: 'new/3' }))
    storage.appendOffline('c', message({ topic: 'new/4' }))
    await storage.close()
    // One segment holds all five; the head row keeps the dropped three behind the head.
    expect(inspect('SELECT first_seq, end_seq FROM offline_segments')).toEqual([{ first_seq: 0, end_seq: 4 }])
    expect(inspect('SELECT head FROM offline_heads')).toEqual([{ head: 3 }])
    const reopened = store()
    expect(countOf(await reopened.open(), 'c')).toBe(2)
    expect(topicsOf(await reopened.takeOffline('c', 10))).toEqual(['new/3', 'new/4'])
  })

  it('drops with nothing else on the queue staged in between are one removal; appends into the open segment do not split them', async () => {
    const storage = store()
    await storage.open()
    persistent(storage, 'c')
    for (let i = 0; i < 4; i++) storage.appendOffline('c', message({ topic: `q/${i}` }))
    await storage.sync()
    const before = storage.stats.operations
    // A connected session with a full window: each delivery drops the stored mirror of a message.
    storage.appendOffline('c', message({ topic: 'q/4' }))
    for (let i = 5; i < 9; i++) {
      storage.dropOldestOffline('c', 1)
      storage.appendOffline('c', message({ topic: `q/${i}` }))
    }
    await storage.sync()
    expect(storage.stats.operations - before).toBe(2)
    await storage.close()
    const reopened = store()
    expect(countOf(await reopened.open(), 'c')).toBe(5)
    expect(topicsOf(await reopened.takeOffline('c', 10))).toEqual(['q/4', 'q/5', 'q/6', 'q/7', 'q/8'])
  })

  it(`a burst to one queue in one batch is cut into segments of about ${SEGMENT_LIMIT / 1024} KiB`, async () => {
    const storage = store()
    await storage.open()
    persistent(storage, 'c')
    for (let i = 0; i < 200; i++) storage.appendOffline('c', message({ topic: `burst/${i}`, payload: Buffer.alloc(1000, i) }))
    await storage.close()
    const sizes = inspect<{ size: number }>('SELECT length(data) AS size FROM offline_segments ORDER BY end_seq')
    expect(sizes.length).toBeGreaterThanOrEqual(3)
    for (const { size } of sizes) expect(size).toBeLessThan(SEGMENT_LIMIT + 1100)
    const reopened = store()
    await reopened.open()
    await reopened.takeOffline('c', 70)
    const rest = await reopened.takeOffline('c', 1000)
    expect(topicsOf(rest)).toEqual(Array.from({ length: 130 }, (_, i) => `burst/${i + 70}`))
    expect(rest[0]?.payload).toEqual(Buffer.alloc(1000, 70))
  })

  it('interleaved small and large messages come back in append order, across takes and restarts', async () => {
    const storage = store()
    await storage.open()
    persistent(storage, 'c')
    const appended: Message[] = []
    const append = (big: boolean): void => {
      const m = message({ topic: `m/${appended.length}`, ...(big ? { payload: large() } : {}) })
      appended.push(m)
      storage.appendOffline('c', m)
    }
    for (const big of [false, true, false, true, true, false]) append(big)
    await storage.sync()
    for (const big of [true, false, false, true]) append(big)
    await storage.close()
    expect(inspect('SELECT seq FROM offline ORDER BY seq')).toEqual([1, 3, 4, 6, 9].map((seq) => ({ seq })))

    const reopened = store()
    expect(countOf(await reopened.open(), 'c')).toBe(10)
    const first = await reopened.takeOffline('c', 4)
    await reopened.close()
    const again = store()
    expect(countOf(await again.open(), 'c')).toBe(6)
    const rest = await again.takeOffline('c', 100)
    expect([...first, ...rest]).toEqual(appended)
  })

  it('deleteSession between appends of one batch: the later appends start a new queue in a new segment', async () => {
    const storage = store()
    await storage.open()
    persistent(storage, 'c')
    storage.appendOffline('c', message({ topic: 'gone/0' }))
    storage.appendOffline('c', message({ topic: 'gone/1' }))
    storage.deleteSession('c')
    persistent(storage, 'c')
    storage.appendOffline('c', message({ topic: 'kept/0' }))
    storage.appendOffline('c', message({ topic: 'kept/1' }))
    await storage.close()
    expect(inspect('SELECT first_seq, end_seq FROM offline_segments')).toEqual([{ first_seq: 0, end_seq: 1 }])
    const reopened = store()
    expect(countOf(await reopened.open(), 'c')).toBe(2)
    expect(topicsOf(await reopened.takeOffline('c', 10))).toEqual(['kept/0', 'kept/1'])
  })

  it('dropOldestOffline inside a segment, in the same batch as the appends around it', async () => {
    const storage = store()
    await storage.open()
    persistent(storage, 'c')
    for (let i = 0; i < 6; i++) storage.appendOffline('c', message({ topic: `d/${i}` }))
    storage.dropOldestOffline('c', 2)
    for (let i = 6; i < 8; i++) storage.appendOffline('c', message({ topic: `d/${i}` }))
    await storage.sync()
    storage.dropOldestOffline('c', 1)
    await storage.close()
    // The drop does not close the open segment: its row is inserted with all eight appends.
    expect(inspect('SELECT first_seq, end_seq FROM offline_segments')).toEqual([{ first_seq: 0, end_seq: 7 }])
    expect(inspect('SELECT head FROM offline_heads')).toEqual([{ head: 3 }])
    const reopened = store()
    expect(countOf(await reopened.open(), 'c')).toBe(5)
    expect(topicsOf(await reopened.takeOffline('c', 10))).toEqual(['d/3', 'd/4', 'd/5', 'd/6', 'd/7'])
  })

  it('a take across many segments returns them in order and deletes only the consumed ones', async () => {
    const storage = store()
    await storage.open()
    persistent(storage, 'c')
    for (let batch = 0; batch < 20; batch++) {
      for (let i = 0; i < 5; i++) storage.appendOffline('c', message({ topic: `b/${batch * 5 + i}` }))
      await storage.sync()
    }
    const expected = Array.from({ length: 100 }, (_, i) => `b/${i}`)
    expect(topicsOf(await storage.takeOffline('c', 37))).toEqual(expected.slice(0, 37))
    await storage.close()
    // Segments [0,4] … [30,34] are consumed; [35,39] holds the head (37).
    expect(inspect<{ first_seq: number }>('SELECT first_seq FROM offline_segments ORDER BY end_seq')[0]).toEqual({ first_seq: 35 })
    expect(inspect('SELECT COUNT(*) AS n FROM offline_segments')).toEqual([{ n: 13 }])
    const reopened = store()
    expect(countOf(await reopened.open(), 'c')).toBe(63)
    expect(topicsOf(await reopened.takeOffline('c', 1000))).toEqual(expected.slice(37))
  })

  it('appends of several clients in one batch are one segment each, whatever the interleaving', async () => {
    const storage = store()
    await storage.open()
    for (const clientId of ['a', 'b']) persistent(storage, clientId)
    for (let i = 0; i < 4; i++) for (const clientId of ['a', 'b']) storage.appendOffline(clientId, message({ topic: `${clientId}/${i}` }))
    await storage.close()
    expect(inspect('SELECT client_id, first_seq, end_seq FROM offline_segments ORDER BY client_id')).toEqual([
      { client_id: 'a', first_seq: 0, end_seq: 3 },
      { client_id: 'b', first_seq: 0, end_seq: 3 },
    ])
    const reopened = store()
    await reopened.open()
    expect(topicsOf(await reopened.takeOffline('b', 10))).toEqual(['b/0', 'b/1', 'b/2', 'b/3'])
  })

  it('takes after the first are served from what it read ahead: no commit, no read, same order', async () => {
    const storage = store()
    await storage.open()
    persistent(storage, 'c')
    for (let i = 0; i < 10; i++) storage.appendOffline('c', message({ topic: `r/${i}` }))
    await storage.sync()
    expect(topicsOf(await storage.takeOffline('c', 1))).toEqual(['r/0'])
    await storage.sync()
    // Something is staged: a take that reads commits it first; one served from the read-ahead does not.
    storage.putSubscription('c', { filter: 'f', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 })
    const commits = storage.stats.commits
    expect(topicsOf(await storage.takeOffline('c', 2))).toEqual(['r/1', 'r/2'])
    storage.dropOldestOffline('c', 2)
    expect(topicsOf(await storage.takeOffline('c', 1))).toEqual(['r/5'])
    expect(storage.stats.commits).toBe(commits)
    await storage.close()
    const reopened = store()
    expect(countOf(await reopened.open(), 'c')).toBe(4)
    expect(topicsOf(await reopened.takeOffline('c', 10))).toEqual(['r/6', 'r/7', 'r/8', 'r/9'])
  })

  it('reading ahead stops at a large entry and never serves across it or past a deleted session', async () => {
    const storage = store()
    await storage.open()
    persistent(storage, 'c')
    for (const [i, big] of [false, false, true, false].entries()) {
      storage.appendOffline('c', message({ topic: `x/${i}`, ...(big ? { payload: large() } : {}) }))
    }
    expect(topicsOf(await storage.takeOffline('c', 1))).toEqual(['x/0'])
    expect(topicsOf(await storage.takeOffline('c', 2))).toEqual(['x/1', 'x/2'])
    storage.deleteSession('c')
    persistent(storage, 'c')
    storage.appendOffline('c', message({ topic: 'new/0' }))
    expect(topicsOf(await storage.takeOffline('c', 5))).toEqual(['new/0'])
  })

  it('a damaged segment rejects takeOffline with FLUXMQ_ERR_STORAGE_CORRUPT instead of losing messages', async () => {
    const storage = store()
    await storage.open()
    persistent(storage, 'c')
    storage.appendOffline('c', message())
    storage.appendOffline('c', message())
    await storage.close()
    const db = new Database(join(dir, DATABASE_FILE))
    db.prepare(`UPDATE offline_segments SET data = substr(data, 1, length(data) - 3)`).run()
    db.close()
    const reopened = store()
    await reopened.open()
    const error = await rejection(reopened.takeOffline('c', 10))
    expect(error.code).toBe(StorageErrorCode.Corrupt)
    expect(error.message).toMatch(/offline queue of c is damaged/)
  })

  it('v3 -> v4: queued rows of a version 3 database keep their order, count and references, and the queue grows in segments', async () => {
    const path = join(dir, DATABASE_FILE)
    const v3 = new Database(path)
    migrate(v3, path, MIGRATIONS.slice(0, 3))
    v3.prepare(`INSERT INTO sessions (client_id, protocol, expiry_interval) VALUES ('c', 'mqtt5', 60)`).run()
    const insertMessage = v3.prepare(
      `INSERT INTO messages (id, refs, topic, payload, qos, retain, published_at) VALUES (?, 1, ?, ?, 1, 0, ?)`,
    )
    const insertOffline = v3.prepare(`INSERT INTO offline (client_id, seq, message_id) VALUES ('c', ?, ?)`)
    // A v3 queue whose head was already taken: seqs 2..4.
    for (let seq = 2; seq < 5; seq++) {
      insertMessage.run(seq, `v3/${seq}`, Buffer.from(`p${seq}`), seq)
      insertOffline.run(seq, seq)
    }
    v3.close()

    const storage = store()
    expect(countOf(await storage.open(), 'c')).toBe(3)
    storage.appendOffline('c', message({ topic: 'v4/5' }))
    storage.appendOffline('c', message({ topic: 'v4/6' }))
    expect(topicsOf(await storage.takeOffline('c', 2))).toEqual(['v3/2', 'v3/3'])
    await storage.close()
    expect(inspect('SELECT first_seq, end_seq FROM offline_segments')).toEqual([{ first_seq: 5, end_seq: 6 }])
    expect(inspect('SELECT id, refs FROM messages')).toEqual([{ id: 4, refs: 1 }])

    const reopened = store()
    expect(countOf(await reopened.open(), 'c')).toBe(3)
    const rest = await reopened.takeOffline('c', 10)
    expect(topicsOf(rest)).toEqual(['v3/4', 'v4/5', 'v4/6'])
    expect(rest[0]?.payload.toString()).toBe('p4')
    await reopened.close()
    expect(inspect('SELECT id FROM messages')).toEqual([])
  })
})

describe('SqliteStorage: start-up cost', () => {
  it('no start-up read visits offline entries; queue reads and removals use the primary key or the segment index', () => {
    const { db } = openDatabase(dir, 'normal')
    const plan = (sql: string): string => {
      const parameters = (sql.match(/\?/g) ?? []).map(() => null)
      const rows = db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...parameters) as { detail: string }[]
      return rows.map((r) => r.detail).join(' | ')
    }
    for (const sql of Object.values(LOAD_SQL)) expect(plan(sql)).not.toMatch(/SCAN (offline|o)\b/)
    for (const name of ['firstQueue', 'nextQueue', 'queueHead', 'queueLast'] as const) {
      expect(plan(LOAD_SQL[name])).toMatch(/^SEARCH offline USING PRIMARY KEY\b/)
    }
    for (const name of ['firstSegmentQueue', 'nextSegmentQueue', 'segmentHead', 'segmentLast'] as const) {
      expect(plan(LOAD_SQL[name])).toMatch(/^SEARCH offline_segments USING (COVERING )?INDEX offline_segments_queue\b/)
    }
    expect(plan(LOAD_SQL.storedHead)).toMatch(/^SEARCH offline_heads USING PRIMARY KEY \(client_id=\?\)$/)
    expect(plan(STATEMENT_SQL.readOffline)).toMatch(/SEARCH o USING PRIMARY KEY \(client_id=\? AND seq>\? AND seq<\?\)/)
    expect(plan(STATEMENT_SQL.readSegments)).toMatch(/^SEARCH offline_segments USING INDEX offline_segments_queue \(client_id=\? AND end_seq>\?\)$/)
    expect(plan(STATEMENT_SQL.deleteOfflineBelow)).toMatch(/SEARCH offline USING PRIMARY KEY \(client_id=\? AND seq<\?\)/)
    expect(plan(STATEMENT_SQL.deleteSegmentsBelow)).toMatch(/SEARCH offline_segments USING INDEX offline_segments_queue \(client_id=\? AND end_seq<\?\)/)
    expect(plan(GARBAGE_SWEEP_SQL)).toMatch(/^SCAN messages USING INDEX messages_garbage$/)
    db.close()
  })

  it('open reports queue lengths of thousands of messages without loading them', async () => {
    const storage = store()
    await storage.open()
    for (const clientId of ['a', 'b']) storage.putSession({ clientId, protocol: 'mqtt5', expiryInterval: 60 })
    for (let i = 0; i < 5000; i++) storage.appendOffline(i % 2 === 0 ? 'a' : 'b', message())
    storage.dropOldestOffline('a', 500)
    await storage.close()
    const state = await store().open()
    expect(Object.fromEntries(state.sessions.map((s) => [s.session.clientId, s.offlineCount]))).toEqual({ a: 2000, b: 2500 })
  })
})

describe('SqliteStorage: crash', () => {
  const child = fileURLToPath(new URL('./test-support/crash-writer.mjs', import.meta.url))

  for (const sync of ['normal', 'full'] as const) {
    it(`keeps every write whose sync() resolved when the process is SIGKILLed (sync: ${sync})`, async () => {
      if (!existsSync(fileURLToPath(new URL('../dist/index.js', import.meta.url)))) {
        throw new Error('the crash test runs the built package: run `pnpm build` first')
      }
      const acknowledged = await acknowledgeUntilKilled(child, [dir, sync], 150)
      const storage = store({ sync })
      const state = await storage.open()
      const offline = state.sessions.find((s) => s.session.clientId === 'offline')
      expect(offline?.offlineCount).toBeGreaterThan(acknowledged)
      const messages = await storage.takeOffline('offline', Number.MAX_SAFE_INTEGER)
      expect(messages.map((m) => m.topic)).toEqual(messages.map((_, i) => `crash/${i}`))
      // Every 11th one came back from the messages table, the others from segments.
      expect(messages.map((m) => m.payload.length === 5000)).toEqual(messages.map((_, i) => i % 11 === 10))
    })
  }
})

/** Runs the child until it has acknowledged `after` messages, SIGKILLs it, returns the last acknowledged number. */
async function acknowledgeUntilKilled(script: string, args: string[], after: number): Promise<number> {
  let last = -1
  await runUntilKilled(script, args, (line) => (last = Number(line)) >= after)
  return last
}

function openDatabaseAfterClose(at: string): { db: Database.Database } {
  return { db: new Database(join(at, DATABASE_FILE), { readonly: true }) }
}
