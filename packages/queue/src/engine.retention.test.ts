import { afterEach, describe, expect, it } from 'vitest'
import { Harness, T0, message } from './test-support/harness.js'

let h: Harness
afterEach(() => h.dispose())

function consume(consumerId: string, queue: string, group: string, count: number): void {
  h.engine.attach({ consumerId, queue, group })
  h.engine.grant(consumerId, count)
  for (const delivery of h.takeDeliveries(consumerId)) h.engine.settle(consumerId, delivery.deliveryId, 'accepted')
}

describe('QueueEngine: retention', () => {
  it('truncates a classic queue up to what every group has acknowledged', () => {
    h = new Harness()
    h.fill('q', 10)
    consume('a', 'q', 'g1', 10)
    consume('b', 'q', 'g2', 4)
    h.engine.tick()
    h.commit()
    expect(h.engine.stats('q')).toMatchObject({ depth: 6, firstOffset: 4, nextOffset: 10, counters: { truncated: 4 } })
    h.engine.grant('b', 10)
    for (const delivery of h.takeDeliveries('b')) h.engine.settle('b', delivery.deliveryId, 'accepted')
    h.engine.tick()
    h.commit()
    expect(h.engine.stats('q')).toMatchObject({ depth: 0, firstOffset: 10, bytes: 0 })
  })

  it('keeps offsets monotonic after the whole log was truncated and the engine restarted', () => {
    h = new Harness()
    h.fill('q', 3)
    consume('a', 'q', 'g', 3)
    h.engine.tick()
    h.restart()
    expect(h.engine.append('q', message('t', 'next')).offset).toBe(3)
  })

  it('bounds any queue by max_messages; a group behind the new head skips what was cut', () => {
    h = new Harness({ queues: [{ name: 'q', retention: { maxAgeMs: 0, maxMessages: 4, maxBytes: 0 } }] })
    h.engine.attach({ consumerId: 'slow', queue: 'q' })
    h.engine.grant('slow', 2)
    h.fill('q', 10)
    expect(h.take('slow')).toEqual(['m0', 'm1'])
    h.engine.tick()
    h.commit()
    expect(h.engine.stats('q')).toMatchObject({ depth: 4, firstOffset: 6, pending: 0, groups: [{ committedOffset: 6 }] })
    h.engine.grant('slow', 10)
    expect(h.take('slow')).toEqual(['m6', 'm7', 'm8', 'm9'])
  })

  it('bounds a queue by max_age', () => {
    h = new Harness({ queues: [{ name: 's', type: 'stream', retention: { maxAgeMs: 60_000, maxMessages: 0, maxBytes: 0 } }] })
    for (let i = 0; i < 5; i++) h.engine.append('s', message('t', `m${i}`, { publishedAt: T0 + i * 30_000 }))
    h.commit()
    h.now = T0 + 4 * 30_000
    h.engine.tick()
    h.commit()
    expect(h.engine.stats('s')).toMatchObject({ depth: 3, firstOffset: 2 })
    h.now += 10 * 60_000
    h.engine.tick()
    expect(h.engine.stats('s')).toMatchObject({ depth: 0, firstOffset: 5 })
  })

  it('bounds a queue by max_bytes (payload and topic)', () => {
    h = new Harness({ queues: [{ name: 's', type: 'stream', retention: { maxAgeMs: 0, maxMessages: 0, maxBytes: 250 } }] })
    for (let i = 0; i < 10; i++) h.engine.append('s', message('t', 'x'.repeat(99)))
    h.commit()
    expect(h.engine.stats('s')?.bytes).toBe(1000)
    h.engine.tick()
    h.commit()
    expect(h.engine.stats('s')).toMatchObject({ depth: 2, bytes: 200, firstOffset: 8 })
    h.restart()
    expect(h.engine.stats('s')).toMatchObject({ depth: 2, bytes: 200, firstOffset: 8 })
  })
})
