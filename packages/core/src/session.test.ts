import { describe, expect, it } from 'vitest'
import { MemoryStorage } from './memory-storage.js'
import { QueuedForms } from './queued-form.js'
import { Session, type SessionContext } from './session.js'
import { Stats } from './stats.js'
import { connect, createWorld, message, silentLogger } from './test-support/harness.js'

function context(): SessionContext {
  return {
    storage: new MemoryStorage(),
    stats: new Stats(),
    logger: silentLogger,
    maxOfflineMessages: 0,
    offlineOverflow: 'drop_oldest',
    queuedForms: new QueuedForms(),
    releasedQos2Kept: 10,
    now: () => 0,
    wrote: false,
    backpressure: undefined,
    overflowing: undefined,
    halted: false,
  }
}

describe('Session memory', () => {
  it('an idle session owns no collection: its empty reads are shared by every session', () => {
    const ctx = context()
    const a = new Session('a', { clientId: 'a', protocol: 'mqtt3' }, 0, ctx)
    const b = new Session('b', { clientId: 'b', protocol: 'mqtt3' }, 0, ctx)
    expect(a.subscriptions).toBe(b.subscriptions)
    expect(a.inflight).toBe(b.inflight)
    expect(a.incomingQos2).toBe(b.incomingQos2)
    expect(a.releasedQos2).toBe(b.releasedQos2)
    expect(a.queued).toBe(0)
    a.receiveIncoming(7)
    expect(a.incomingQos2).not.toBe(b.incomingQos2)
  })

  it("what one session stores never shows in another's (the shared empty collections stay empty)", async () => {
    const w = await createWorld()
    const busy = await connect(w, 'busy', { receiveMaximum: 1 })
    const idle = await connect(w, 'idle')
    busy.subscribe('t', 1)
    busy.publish('t', 'in flight', 1)
    busy.publish('t', 'queued', 1)
    expect(w.broker.publishExactlyOnce(busy.handle, 7, message(w.clock, 'x', 'q2', 2)).duplicate).toBe(false)
    expect(w.broker.publishExactlyOnce(busy.handle, 8, message(w.clock, 'x', 'q2', 2)).duplicate).toBe(false)
    expect(w.broker.releaseExactlyOnce(busy.handle, 8)).toBe(true)
    expect(w.broker.session('busy')).toMatchObject({ inflight: 1, queued: 1, subscriptions: [{ filter: 't' }] })
    expect(w.broker.session('idle')).toMatchObject({ inflight: 0, queued: 0, subscriptions: [] })
    // [MQTT-4.3.3-10] Its own ids only: 7 is new for this client, 8 was never released by it.
    expect(w.broker.publishExactlyOnce(idle.handle, 7, message(w.clock, 'x', 'q2', 2)).duplicate).toBe(false)
    expect(w.broker.releaseExactlyOnce(idle.handle, 8)).toBe(false)
    expect(w.broker.settle(idle.handle, 1, 'accepted')).toBe(false)
  })

  it('a session that unsubscribed from its last filter subscribes and receives again', async () => {
    const w = await createWorld()
    const c = await connect(w, 'c', { cleanStart: false, expiry: 60 })
    const pub = await connect(w, 'p')
    c.subscribe('a', 1)
    c.subscribe('b', 1)
    expect(w.broker.unsubscribe(c.handle, ['a', 'b', 'b'])).toEqual([true, true, false])
    expect(pub.publish('a', 'gone', 1).reason).toBe('no_subscribers')
    expect(w.broker.session('c')?.subscriptions).toEqual([])
    expect((await w.storage.open()).sessions.find((s) => s.session.clientId === 'c')?.subscriptions).toEqual([])
    c.subscribe('a', 1)
    pub.publish('a', 'back', 1)
    expect(c.link.take().map((r) => r.payload)).toEqual(['back'])
    expect(w.broker.stats.subscriptionsCurrent).toBe(1)
  })

  it('a stored session gives its in-memory queue back on disconnect and reads it back in order on reconnect', async () => {
    const w = await createWorld()
    const c = await connect(w, 'c', { cleanStart: false, expiry: 60, receiveMaximum: 1 })
    const pub = await connect(w, 'p')
    c.subscribe('t', 1)
    for (const p of ['1', '2', '3']) pub.publish('t', p, 1)
    expect(c.link.take().map((r) => r.payload)).toEqual(['1'])
    c.disconnect()
    pub.publish('t', '4', 1)
    expect(w.broker.session('c')).toMatchObject({ inflight: 1, queued: 3 })
    const again = await connect(w, 'c', { cleanStart: false, expiry: 60, receiveMaximum: 1 })
    const got: string[] = []
    for (let i = 0; i < 8 && got.length < 4; i++) {
      await w.broker.durable('c')
      await new Promise((resolve) => setImmediate(resolve))
      for (const r of again.link.take()) {
        got.push(r.payload)
        again.ack(r)
      }
    }
    expect(got).toEqual(['1', '2', '3', '4'])
  })

  it('[MQTT-4.6.0-5] an empty window is filled at once; the PUBACKs of one task are refilled by one read, in order', async () => {
    const w = await createWorld()
    const opts = { cleanStart: false, expiry: 60, receiveMaximum: 4 }
    const c = await connect(w, 'c', opts)
    c.subscribe('t', 1)
    c.disconnect()
    const pub = await connect(w, 'p')
    for (let i = 1; i <= 12; i++) pub.publish('t', String(i), 1)
    const takes: number[] = []
    const takeOffline = w.storage.takeOffline.bind(w.storage)
    w.storage.takeOffline = (clientId, limit) => {
      takes.push(limit)
      return takeOffline(clientId, limit)
    }
    const again = await connect(w, 'c', opts)
    // Requested in the CONNACK's task, before any other I/O.
    expect(takes).toEqual([4])
    await Promise.resolve()
    let got = again.link.take()
    expect(got.map((r) => r.payload)).toEqual(['1', '2', '3', '4'])
    // Three slots freed in one task: one read of three, not a read of one and then of two.
    for (const r of got.slice(0, 3)) again.ack(r)
    expect(takes).toEqual([4])
    pub.publish('t', '13', 1)
    for (let i = 0; i < 4 && again.link.received.length < 3; i++) await Promise.resolve()
    got = again.link.take()
    expect(takes).toEqual([4, 3])
    expect(got.map((r) => r.payload)).toEqual(['5', '6', '7'])
    expect(w.broker.session('c')).toMatchObject({ inflight: 4, queued: 6 })
  })
})
