import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import { QueueEngine } from './engine.js'
import { QueueErrorCode } from './errors.js'
import { MESSAGE_FIELD_COLUMNS, MESSAGE_FIELD_NAMES, messageValues } from '@fluxmq/storage/internal'
import { defineQueue } from './definition.js'
import { QUEUE_DATABASE_FILE } from './sqlite/database.js'
import { encodeOffsets } from './sqlite/offsets.js'
import { Harness, message } from './test-support/harness.js'

let h: Harness
afterEach(() => h.dispose())

describe('QueueEngine: durability and restart', () => {
  it('redelivers after a restart what was not acknowledged, acked ones never, counts included', () => {
    h = new Harness({ nackBackoff: { initialMs: 0, maxMs: 0 } })
    h.fill('q', 6)
    h.engine.attach({ consumerId: 'c', queue: 'q' })
    h.engine.grant('c', 5)
    const delivered = h.takeDeliveries('c')
    // Acked out of order: 1 and 3; 0 nacked twice (so delivered three times); 2 and 4 left unsettled.
    h.engine.settle('c', delivered[1]?.deliveryId as number, 'accepted')
    h.engine.settle('c', delivered[3]?.deliveryId as number, 'accepted')
    h.engine.settle('c', delivered[0]?.deliveryId as number, 'modified')
    h.engine.grant('c', 1)
    h.engine.settle('c', h.takeDeliveries('c')[0]?.deliveryId as number, 'modified')
    h.engine.grant('c', 1)
    expect(h.takeDeliveries('c').map((delivery) => [delivery.offset, delivery.deliveryCount])).toEqual([[0, 3]])
    h.restart()
    h.engine.attach({ consumerId: 'c', queue: 'q' })
    h.engine.grant('c', 10)
    expect(h.takeDeliveries('c').map((delivery) => [delivery.offset, delivery.deliveryCount])).toEqual([
      [0, 4],
      [2, 2],
      [4, 2],
      [5, 1],
    ])
    expect(h.engine.stats('q')?.groups[0]?.committedOffset).toBe(0)
  })

  it('keeps queues created on first use; configuration redefines declared ones', () => {
    h = new Harness({ queues: [{ name: 'orders', topics: ['orders/#'], maxDeliveries: 2 }] })
    h.engine.append('jobs', message('$queue/jobs', 'j'))
    h.commit()
    h.restart({ queues: [{ name: 'orders', topics: ['shop/#'], type: 'stream' }] })
    expect(h.engine.list().map((queue) => [queue.name, queue.type, queue.declared, queue.depth])).toEqual([
      ['orders', 'stream', true, 0],
      ['jobs', 'classic', false, 1],
    ])
    expect(h.engine.captures('shop/1')).toEqual(['orders'])
    expect(h.engine.captures('orders/1')).toEqual([])
    // Dropped from the configuration: kept with its messages, captures nothing.
    h.restart({ queues: [] })
    expect(h.engine.stats('orders')).toMatchObject({ declared: false, type: 'stream' })
    expect(h.engine.captures('shop/1')).toEqual([])
    h.restart({ queues: [] })
    expect(h.engine.captures('shop/1')).toEqual([])
  })

  it('commits the appends of one event-loop turn together; their durable promise resolves after the commit', async () => {
    // The production schedule (setImmediate) instead of the harness's commit-when-told.
    h = new Harness({ schedule: undefined })
    h.engine.attach({ consumerId: 'c', queue: 'q' })
    h.engine.grant('c', 1000)
    const appends = Array.from({ length: 100 }, (_, i) => h.engine.append('q', message('t', `m${i}`)))
    expect(new Set(appends.map((append) => append.durable)).size).toBe(1)
    expect(h.deliveries).toHaveLength(0)
    await appends[0]?.durable
    expect(h.deliveries).toHaveLength(100)
    const next = h.engine.append('q', message('t', 'later'))
    expect(next.durable).not.toBe(appends[0]?.durable)
    await next.durable
    expect(h.engine.stats('q')?.depth).toBe(101)
  })

  it('refuses a second engine on the same directory and a file that is not a queue database', () => {
    h = new Harness()
    expect(() => h.open()).toThrow(expect.objectContaining({ code: QueueErrorCode.Open }))
    const foreign = mkdtempSync(join(tmpdir(), 'fluxmq-queue-foreign-'))
    try {
      writeFileSync(join(foreign, QUEUE_DATABASE_FILE), 'not a database, just some text that is long enough to be read as a header......')
      expect(() => QueueEngine.open({ dir: foreign, clock: h.clock, deliver: () => undefined })).toThrow(
        expect.objectContaining({ code: QueueErrorCode.Open }),
      )
    } finally {
      rmSync(foreign, { recursive: true, force: true })
    }
  })

  /**
   * A file as an older build wrote it, by hand: stream queue `s` with m0..m3 (published at
   * 1000..1003), group `g` delivered up to 4 with 1 and 3 acknowledged out of order and 0
   * delivered twice. Version 2 kept every queue's messages in one `messages` table with a unique
   * index; version 1 also had a publish-time index and a group_entries row per settled offset.
   */
  function writeOldFile(dir: string, version: 1 | 2): void {
    const db = new Database(join(dir, QUEUE_DATABASE_FILE))
    db.pragma('application_id = 1179408465')
    db.exec(`
      CREATE TABLE queues (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, definition TEXT NOT NULL, declared INTEGER NOT NULL, first_offset INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE messages (queue_id INTEGER NOT NULL, offset INTEGER NOT NULL, size INTEGER NOT NULL, ${MESSAGE_FIELD_COLUMNS});
      CREATE UNIQUE INDEX messages_offset ON messages (queue_id, offset);
      CREATE TABLE groups (queue_id INTEGER NOT NULL, name TEXT NOT NULL, floor INTEGER NOT NULL, delivered_to INTEGER NOT NULL, PRIMARY KEY (queue_id, name)) WITHOUT ROWID;
    `)
    db.prepare('INSERT INTO queues (id, name, definition, declared) VALUES (1, ?, ?, 1)').run('s', JSON.stringify(defineQueue({ name: 's', type: 'stream' })))
    const insert = db.prepare(`INSERT INTO messages (queue_id, offset, size, ${MESSAGE_FIELD_NAMES}) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
    for (let i = 0; i < 4; i++) insert.run(i, 3, ...messageValues(message('t', `m${i}`, { publishedAt: 1000 + i })))
    db.exec(`INSERT INTO groups VALUES (1, 'g', 0, 4)`)
    if (version === 1) {
      db.exec(`
        CREATE INDEX messages_time ON messages (queue_id, published_at);
        CREATE TABLE group_entries (queue_id INTEGER NOT NULL, group_name TEXT NOT NULL, offset INTEGER NOT NULL,
          settled INTEGER NOT NULL, deliveries INTEGER NOT NULL, PRIMARY KEY (queue_id, group_name, offset)) WITHOUT ROWID;
        INSERT INTO group_entries VALUES (1, 'g', 1, 1, 0), (1, 'g', 3, 1, 0), (1, 'g', 0, 0, 2);
      `)
    } else {
      db.exec(`
        CREATE TABLE group_acks (queue_id INTEGER NOT NULL, group_name TEXT NOT NULL, last_offset INTEGER NOT NULL, offsets BLOB NOT NULL,
          PRIMARY KEY (queue_id, group_name, last_offset)) WITHOUT ROWID;
        CREATE TABLE group_entries (queue_id INTEGER NOT NULL, group_name TEXT NOT NULL, offset INTEGER NOT NULL, deliveries INTEGER NOT NULL,
          PRIMARY KEY (queue_id, group_name, offset)) WITHOUT ROWID;
        INSERT INTO group_entries VALUES (1, 'g', 0, 2);
      `)
      db.prepare(`INSERT INTO group_acks VALUES (1, 'g', 3, ?)`).run(encodeOffsets([1, 3]))
    }
    db.pragma(`user_version = ${version}`)
    db.close()
  }

  for (const version of [1, 2] as const) {
    it(`opens a file of schema version ${version}: messages moved to the queue's log table, acks out of order and delivery counts kept`, () => {
      h = new Harness({ queues: [{ name: 's', type: 'stream' }] })
      h.engine.close()
      rmSync(join(h.dir, QUEUE_DATABASE_FILE))
      writeOldFile(h.dir, version)
      h.engine = h.open()
      h.engine.attach({ consumerId: 'c', queue: 's', group: 'g' })
      h.engine.grant('c', 10)
      expect(h.takeDeliveries('c').map((delivery) => [delivery.offset, delivery.deliveryCount, delivery.message.payload.toString()])).toEqual([
        [0, 3, 'm0'],
        [2, 2, 'm2'],
      ])
      h.engine.attach({ consumerId: 'r', queue: 's', group: 'replay', cursor: 'timestamp=1002' })
      h.engine.grant('r', 10)
      expect(h.takeDeliveries('r').map((delivery) => delivery.message.payload.toString())).toEqual(['m2', 'm3'])
      h.engine.append('s', message('t', 'm4'))
      h.commit()
      expect(h.engine.stats('s')).toMatchObject({ depth: 5, nextOffset: 5 })
      h.engine.close()
      const migrated = new Database(join(h.dir, QUEUE_DATABASE_FILE))
      try {
        expect(migrated.pragma('user_version', { simple: true })).toBe(3)
        expect(migrated.prepare('SELECT name FROM sqlite_master WHERE type = ? ORDER BY name').pluck().all('table')).toEqual(['group_acks', 'group_entries', 'groups', 'log_1', 'queues'])
        expect(migrated.prepare('SELECT name FROM sqlite_master WHERE type = ?').pluck().all('index')).not.toContain('messages_time')
      } finally {
        migrated.close()
      }
      h.engine = h.open()
    })
  }

  it('writes the acks out of order of one commit in one row, and forgets rows the floor has passed', () => {
    h = new Harness()
    h.fill('q', 6)
    h.engine.attach({ consumerId: 'c', queue: 'q' })
    h.engine.grant('c', 6)
    const delivered = h.takeDeliveries('c')
    for (const i of [1, 2, 4]) h.engine.settle('c', delivered[i]?.deliveryId as number, 'accepted')
    h.commit()
    const rows = (): number => {
      h.engine.close()
      const db = new Database(join(h.dir, QUEUE_DATABASE_FILE))
      try {
        return db.prepare('SELECT count(*) FROM group_acks').pluck().get() as number
      } finally {
        db.close()
        h.engine = h.open()
      }
    }
    expect(rows()).toBe(1)
    h.engine.attach({ consumerId: 'c', queue: 'q' })
    h.engine.grant('c', 6)
    // 1, 2 and 4 stay settled across the restart.
    const again = h.takeDeliveries('c')
    expect(again.map((delivery) => delivery.offset)).toEqual([0, 3, 5])
    for (const delivery of again) h.engine.settle('c', delivery.deliveryId, 'accepted')
    h.commit()
    expect(h.engine.stats('q')?.groups[0]?.committedOffset).toBe(6)
    expect(rows()).toBe(0)
  })

  it('throws Closed after close()', () => {
    h = new Harness()
    h.engine.close()
    expect(() => h.engine.append('q', message('t', 'x'))).toThrow(expect.objectContaining({ code: QueueErrorCode.Closed }))
  })
})
