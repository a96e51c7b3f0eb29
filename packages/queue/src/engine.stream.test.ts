import { afterEach, describe, expect, it } from 'vitest'
import { QueueErrorCode } from './errors.js'
import { Harness, T0, message } from './test-support/harness.js'

let h: Harness
afterEach(() => h.dispose())

/** A stream `s` with messages m0..m9 published one second apart from T0. */
function stream(): Harness {
  const harness = new Harness({ queues: [{ name: 's', type: 'stream' }] })
  for (let i = 0; i < 10; i++) harness.engine.append('s', message(`t/${i}`, `m${i}`, { publishedAt: T0 + i * 1000 }))
  harness.commit()
  return harness
}

function read(consumerId: string, cursor?: string, group = consumerId): string[] {
  h.engine.attach({ consumerId, queue: 's', group, ...(cursor === undefined ? {} : { cursor }) })
  h.engine.grant(consumerId, 100)
  return h.take(consumerId)
}

describe('QueueEngine: stream queues', () => {
  it('replays from first, last, an offset or a timestamp', () => {
    h = stream()
    const all = Array.from({ length: 10 }, (_, i) => `m${i}`)
    expect(read('a', 'first')).toEqual(all)
    expect(read('b', 'last')).toEqual(['m9'])
    expect(read('c', '4')).toEqual(all.slice(4))
    expect(read('d', `timestamp=${T0 + 6500}`)).toEqual(all.slice(7))
    // Beyond the end: only what comes next.
    expect(read('e', `timestamp=${T0 + 60_000}`)).toEqual([])
    expect(read('f', '1000')).toEqual([])
    h.fill('s', 1, 'new')
    expect(h.take('e')).toEqual(['new0'])
    expect(h.take('f')).toEqual(['new0'])
  })

  it('starts a new group without a cursor at last', () => {
    h = stream()
    expect(read('a')).toEqual(['m9'])
  })

  it('keeps acknowledged messages for other groups and later replays', () => {
    h = stream()
    h.onDeliver = (delivery) => h.engine.settle(delivery.consumerId, delivery.deliveryId, 'accepted')
    expect(read('a', 'first')).toHaveLength(10)
    h.engine.tick()
    expect(h.engine.stats('s')).toMatchObject({ depth: 10, groups: [{ name: 'a', committedOffset: 10 }] })
    expect(read('b', 'first')).toHaveLength(10)
  })

  it('resumes each group from its committed offset after a restart', () => {
    h = stream()
    h.engine.attach({ consumerId: 'a', queue: 's', group: 'g', cursor: 'first' })
    h.engine.grant('a', 6)
    for (const delivery of h.takeDeliveries('a').slice(0, 5)) h.engine.settle('a', delivery.deliveryId, 'accepted')
    h.restart()
    expect(h.engine.stats('s')?.groups).toMatchObject([{ name: 'g', committedOffset: 5 }])
    // No cursor: the group's committed offset, and m5 (delivered, not acked) again.
    expect(read('a2', undefined, 'g')).toEqual(['m5', 'm6', 'm7', 'm8', 'm9'])
  })

  it('repositions a group without members when a cursor is given (replay)', () => {
    h = stream()
    h.onDeliver = (delivery) => h.engine.settle(delivery.consumerId, delivery.deliveryId, 'accepted')
    expect(read('a', 'first', 'g')).toHaveLength(10)
    h.engine.detach('a')
    expect(read('b', '7', 'g')).toEqual(['m7', 'm8', 'm9'])
    h.restart()
    expect(h.engine.stats('s')?.groups).toMatchObject([{ name: 'g', committedOffset: 10 }])
  })

  it('refuses a cursor that does not parse, or on a classic queue', () => {
    h = stream()
    for (const cursor of ['', 'next', '-1', '1.5', 'timestamp=', 'timestamp=x', '99999999999999999']) {
      expect(() => h.engine.attach({ consumerId: `c${cursor}`, queue: 's', cursor })).toThrow(expect.objectContaining({ code: QueueErrorCode.BadCursor }))
    }
    expect(() => h.engine.attach({ consumerId: 'c', queue: 'classic', cursor: 'first' })).toThrow(expect.objectContaining({ code: QueueErrorCode.BadCursor }))
    expect(h.engine.stats('s')?.groups).toEqual([])
    expect(h.engine.stats('classic')).toBeUndefined()
  })
})
