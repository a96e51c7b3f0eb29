import { describe, expect, it } from 'vitest'
import type { Broker } from './broker.js'
import { MemoryStorage } from './memory-storage.js'
import { connect, createWorld } from './test-support/harness.js'
import { WriteAheadStorage } from './write-ahead.js'

/** MemoryStorage whose commits stay pending until the test lets them through, like a slow disk. */
class SlowCommits extends MemoryStorage {
  private readonly waiting: Array<() => void> = []

  override sync(): Promise<void> {
    return new Promise((resolve) => this.waiting.push(resolve))
  }

  /** Every commit asked for so far completes. */
  commit(): void {
    for (const resolve of this.waiting.splice(0)) resolve()
  }
}

const settled = (p: Promise<void>) => Promise.race([p.then(() => true), new Promise<boolean>((resolve) => setImmediate(resolve, false))])

/** Lets the commit the session waits for through, and checks it no longer waits. */
async function durableNow(broker: Broker, storage: SlowCommits, clientId: string): Promise<void> {
  const barrier = broker.durable(clientId)
  storage.commit()
  await barrier
  expect(broker.durable(clientId)).toBeUndefined()
}

describe('WriteAheadStorage', () => {
  it('answers per session: only the sessions written wait, for one commit, until it is durable', async () => {
    const inner = new SlowCommits()
    const storage = new WriteAheadStorage(inner)
    await storage.open()
    expect(storage.barrier('a')).toBeUndefined()
    storage.putIncomingQos2('a', 7)
    storage.deleteInflight('b', 3)
    const a = storage.barrier('a')
    expect(a).toBeInstanceOf(Promise)
    expect(storage.barrier('b')).toBe(a)
    expect(storage.barrier('clean')).toBeUndefined()
    // Asking again consumes nothing: another adapter asking about `a` gets the same commit.
    expect(storage.barrier('a')).toBe(a)
    inner.commit()
    await a
    expect(storage.barrier('a')).toBeUndefined()
    expect(storage.barrier('b')).toBeUndefined()
  })

  it('a session written again waits for the later commit; one written before only for its own', async () => {
    const inner = new SlowCommits()
    const storage = new WriteAheadStorage(inner)
    await storage.open()
    storage.putInflight('a', { deliveryId: 0x10001, qos: 1, retain: false, state: 'delivered', message: { topic: 't', payload: Buffer.from('x'), qos: 1, retain: false, properties: {}, publishedAt: 0 } })
    storage.putSubscription('b', { filter: 't', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 })
    const first = storage.barrier('a')!
    storage.deleteInflight('a', 1)
    const second = storage.barrier('a')!
    expect(second).not.toBe(first)
    expect(storage.barrier('b')).toBe(first)
    inner.commit()
    await second
    expect(storage.barrier('a')).toBeUndefined()
  })

  it('retained writes hold no session: the publisher waits on PublishResult.durable instead', async () => {
    const storage = new WriteAheadStorage(new SlowCommits())
    await storage.open()
    storage.putRetained({ topic: 't', payload: Buffer.from('x'), qos: 1, retain: true, properties: {}, publishedAt: 0 })
    storage.deleteRetained('u')
    expect(storage.barrier('anyone')).toBeUndefined()
    // Asked without a session (a connection's last packet), every staged write counts.
    expect(await settled(storage.barrier()!)).toBe(false)
  })

  it('stays armed when someone else syncs: packets of the session still wait for their writes', async () => {
    const storage = new WriteAheadStorage(new MemoryStorage())
    await storage.open()
    storage.appendOffline('a', { topic: 't', payload: Buffer.from('x'), qos: 1, retain: false, properties: {}, publishedAt: 0 })
    void storage.sync()
    expect(storage.barrier('a')).toBeInstanceOf(Promise)
  })
})

describe('Broker.durable(clientId): the write-ahead barrier per session', () => {
  it("a clean session's QoS 0 delivery does not wait for a stored session's pending commit; the stored one does", async () => {
    const storage = new SlowCommits()
    const w = await createWorld({}, { storage })
    const stored = await connect(w, 'stored', { cleanStart: false, expiry: 60 })
    const clean = await connect(w, 'clean')
    const publisher = await connect(w, 'pub')
    stored.subscribe('t', 1)
    clean.subscribe('t', 0)
    await durableNow(w.broker, storage, 'stored')

    const result = publisher.publish('t', 'm', 1)
    expect(clean.link.take().map((r) => [r.payload, r.qos])).toEqual([['m', 0]])
    expect(stored.link.take().map((r) => [r.payload, r.qos])).toEqual([['m', 1]])
    // The stored subscriber's delivery is inflight in Storage: its PUBLISH waits for the commit.
    const storedBarrier = w.broker.durable('stored')
    expect(storedBarrier).toBeInstanceOf(Promise)
    expect(await settled(storedBarrier!)).toBe(false)
    // Nothing of the clean subscriber or the (clean) publisher was written: nothing holds them.
    expect(w.broker.durable('clean')).toBeUndefined()
    expect(w.broker.durable('pub')).toBeUndefined()
    // The publisher's PUBACK depends on the subscriber's inflight record: it waits on its own promise.
    expect(result.durable).toBeInstanceOf(Promise)
    expect(await settled(result.durable!)).toBe(false)

    storage.commit()
    expect(await settled(storedBarrier!)).toBe(true)
    expect(await settled(result.durable!)).toBe(true)
    expect(w.broker.durable('stored')).toBeUndefined()
  })

  it('after stop() nothing waits: the last commit came before Storage closed, and a closed Storage is not asked', async () => {
    const w = await createWorld()
    const stored = await connect(w, 'stored', { cleanStart: false, expiry: 60 })
    stored.subscribe('t', 1)
    await w.broker.stop()
    expect(() => w.storage.sync()).toThrow()
    expect(w.broker.durable()).toBeUndefined()
    expect(w.broker.durable('stored')).toBeUndefined()
  })

  it('a stored session waits for its own SUBACK-time write; a clean one subscribing at the same time does not', async () => {
    const storage = new SlowCommits()
    const w = await createWorld({}, { storage })
    const stored = await connect(w, 'stored', { cleanStart: false, expiry: 60 })
    const clean = await connect(w, 'clean')
    await durableNow(w.broker, storage, 'stored')
    stored.subscribe('a', 1)
    clean.subscribe('a', 1)
    expect(w.broker.durable('stored')).toBeInstanceOf(Promise)
    expect(w.broker.durable('clean')).toBeUndefined()
  })
})
