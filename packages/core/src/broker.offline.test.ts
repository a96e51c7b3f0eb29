import { describe, expect, it } from 'vitest'
import { Refusal } from './refusal.js'
import { connect, createWorld, message } from './test-support/harness.js'

const persistent = { cleanStart: false, expiry: 3600 }

describe('Broker offline queue and resend', () => {
  it('queues QoS 1/2 (not QoS 0) for an offline persistent session, with a durable promise, delivered in order on return', async () => {
    const w = await createWorld()
    const c = await connect(w, 'c', persistent)
    c.subscribe('t', 2)
    c.disconnect()
    const pub = await connect(w, 'p')
    expect(pub.publish('t', 'q0', 0).durable).toBeUndefined()
    const r = pub.publish('t', 'q1', 1)
    expect(r.reason).toBe('accepted')
    expect(r.durable).toBeInstanceOf(Promise)
    await r.durable
    pub.publish('t', 'q2', 2)
    expect(w.broker.stats.offlineQueuedCurrent).toBe(2)
    const back = await connect(w, 'c', persistent)
    await Promise.resolve()
    expect(back.link.take().map((m) => [m.payload, m.qos, m.dup])).toEqual([
      ['q1', 1, false],
      ['q2', 2, false],
    ])
    expect(w.broker.stats.offlineQueuedCurrent).toBe(0)
    expect(w.broker.stats.inflightCurrent).toBe(2)
  })

  it('drains the stored queue within the Receive Maximum as acks arrive', async () => {
    const w = await createWorld()
    const c = await connect(w, 'c', persistent)
    c.subscribe('t', 1)
    c.disconnect()
    const pub = await connect(w, 'p')
    for (let i = 0; i < 7; i++) pub.publish('t', `m${i}`, 1)
    const back = await connect(w, 'c', { ...persistent, receiveMaximum: 3 })
    const payloads: string[] = []
    for (let round = 0; round < 10 && payloads.length < 7; round++) {
      await Promise.resolve()
      const got = back.link.take()
      expect(got.length).toBeLessThanOrEqual(3)
      payloads.push(...got.map((r) => r.payload))
      for (const r of got) w.broker.settle(back.handle, r.deliveryId, 'accepted')
    }
    expect(payloads).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6'])
  })

  it('drop_oldest keeps the newest session.max_offline_messages and counts drops', async () => {
    const w = await createWorld({ maxOfflineMessages: 3 })
    const c = await connect(w, 'c', persistent)
    c.subscribe('t', 1)
    c.disconnect()
    const pub = await connect(w, 'p')
    for (let i = 0; i < 5; i++) expect(pub.publish('t', `m${i}`, 1).reason).toBe('accepted')
    expect(w.broker.stats.messagesDropped).toBe(2)
    const back = await connect(w, 'c', persistent)
    await Promise.resolve()
    expect(back.link.take().map((r) => r.payload)).toEqual(['m2', 'm3', 'm4'])
  })

  it('reject_new keeps the oldest; a publish nobody could take answers QuotaExceeded', async () => {
    const w = await createWorld({ maxOfflineMessages: 2, offlineOverflow: 'reject_new' })
    const c = await connect(w, 'c', persistent)
    c.subscribe('t', 1)
    c.disconnect()
    const pub = await connect(w, 'p')
    expect(pub.publish('t', 'm0', 1).reason).toBe('accepted')
    expect(pub.publish('t', 'm1', 1).reason).toBe('accepted')
    expect(pub.publish('t', 'm2', 1).reason).toBe(Refusal.QuotaExceeded)
    const other = await connect(w, 'o')
    other.subscribe('t', 1)
    expect(pub.publish('t', 'm3', 1).reason).toBe('accepted')
    expect(w.broker.stats.messagesDropped).toBe(2)
    const back = await connect(w, 'c', persistent)
    await Promise.resolve()
    expect(back.link.take().map((r) => r.payload)).toEqual(['m0', 'm1'])
  })

  it('the queue of a connected client keeps every QoS 1 message past its bound and slows the publisher instead', async () => {
    const w = await createWorld({ maxOfflineMessages: 2 })
    const c = await connect(w, 'c', { ...persistent, receiveMaximum: 1 })
    c.subscribe('t', 1)
    const pub = await connect(w, 'p')
    const results = []
    for (let i = 0; i < 5; i++) results.push(pub.publish('t', `m${i}`, 1))
    expect(results.map((r) => r.backpressure !== undefined)).toEqual([false, false, false, true, true])
    expect(results[3]?.backpressure).toBe(results[4]?.backpressure)
    expect(w.broker.stats.messagesDropped).toBe(0)
    let released = false
    void results[3]?.backpressure?.then(() => (released = true))
    const got: string[] = []
    for (let i = 0; i < 5; i++) {
      const [r] = c.link.take()
      got.push(r?.payload ?? '')
      w.broker.settle(c.handle, r?.deliveryId ?? 0, 'accepted')
      await Promise.resolve()
      // Released once the queue is down to half its bound (1 of 2).
      if (i === 1) expect(released).toBe(false)
      if (i === 2) expect(released).toBe(true)
    }
    expect(got).toEqual(['m0', 'm1', 'm2', 'm3', 'm4'])
  })

  it('[MQTT-3.3.2-5] expired messages are not delivered from the offline queue or the pending queue', async () => {
    const w = await createWorld()
    const c = await connect(w, 'c', persistent)
    c.subscribe('t', 1)
    c.disconnect()
    const pub = await connect(w, 'p')
    pub.publish('t', 'short', 1, { expiresAt: w.clock.t + 1000 })
    pub.publish('t', 'long', 1, { expiresAt: w.clock.t + 60_000 })
    pub.publish('t', 'forever', 1)
    w.clock.t += 5000
    const back = await connect(w, 'c', { ...persistent, receiveMaximum: 1 })
    await Promise.resolve()
    let got = back.link.take()
    expect(got.map((r) => r.payload)).toEqual(['long'])
    // The remaining expiry is computed by the adapter from the unchanged absolute expiresAt.
    expect(got[0]?.message.expiresAt).toBe(w.clock.t + 55_000)
    pub.publish('t', 'pending', 1, { expiresAt: w.clock.t + 1000 })
    w.clock.t += 2000
    w.broker.settle(back.handle, got[0]?.deliveryId ?? 0, 'accepted')
    await Promise.resolve()
    got = back.link.take()
    expect(got.map((r) => r.payload)).toEqual(['forever'])
    w.broker.settle(back.handle, got[0]?.deliveryId ?? 0, 'accepted')
    await Promise.resolve()
    expect(back.link.take()).toEqual([])
  })

  it('[MQTT-4.4.0-1] [MQTT-3.3.1-1] on resume, unacknowledged PUBLISH go again with DUP=1 and PUBREL for released ones', async () => {
    const w = await createWorld()
    const c = await connect(w, 'c', persistent)
    c.subscribe('t', 2)
    const pub = await connect(w, 'p')
    pub.publish('t', 'q1', 1)
    pub.publish('t', 'q2-rec', 2)
    pub.publish('t', 'q2', 2)
    const first = c.link.take()
    w.broker.received(c.handle, first[1]?.deliveryId ?? 0)
    c.disconnect(true)
    const back = await connect(w, 'c', persistent)
    expect(back.link.take().map((r) => [r.payload, r.deliveryId, r.dup])).toEqual([
      ['q1', first[0]?.deliveryId, true],
      ['q2', first[2]?.deliveryId, true],
    ])
    expect(back.link.secondPhase).toEqual([first[1]?.deliveryId])
    expect(w.broker.settle(back.handle, first[1]?.deliveryId ?? 0, 'accepted')).toBe(true)
  })

  it('retries unacknowledged deliveries after retry_interval for MQTT 3.1.1 only [MQTT-4.4.0-1]', async () => {
    const w = await createWorld({ retryIntervalMs: 1000 })
    const v3 = await connect(w, 'v3', { protocol: 'mqtt3' })
    const v5 = await connect(w, 'v5')
    v3.subscribe('t', 2)
    v5.subscribe('t', 2)
    const pub = await connect(w, 'p')
    pub.publish('t', 'a', 1)
    pub.publish('t', 'b', 2)
    const sent = v3.link.take()
    v5.link.take()
    w.clock.t += 1
    w.broker.received(v3.handle, sent[1]?.deliveryId ?? 0)
    w.clock.t += 998
    w.broker.tick(w.clock.t)
    expect(v3.link.received).toEqual([])
    w.clock.t += 1
    w.broker.tick(w.clock.t)
    expect(v3.link.take().map((r) => [r.payload, r.dup])).toEqual([['a', true]])
    expect(v3.link.secondPhase).toEqual([])
    w.clock.t += 1
    w.broker.tick(w.clock.t)
    expect(v3.link.secondPhase).toEqual([sent[1]?.deliveryId])
    expect(v5.link.received).toEqual([])
    expect(v5.link.secondPhase).toEqual([])
  })

  it('survives a restart: session, subscriptions, inflight, incoming QoS 2 ids, offline queue', async () => {
    const w = await createWorld()
    const c = await connect(w, 'c', persistent)
    c.subscribe('t', 2, { subscriptionId: 9 })
    const pub = await connect(w, 'p', persistent)
    pub.publish('t', 'inflight', 1)
    const inflight = c.link.take()[0]
    c.disconnect()
    pub.publish('t', 'queued', 2)
    w.broker.publishExactlyOnce(pub.handle, 42, message(w.clock, 'x', 'q', 2))
    // A crash: the old broker is dropped without stop(); a new one opens the same storage.
    await w.storage.close()
    const w2 = await createWorld({}, { clock: w.clock, storage: w.storage })
    expect(w2.broker.stats).toMatchObject({ sessionsCurrent: 2, subscriptionsCurrent: 1, inflightCurrent: 1, offlineQueuedCurrent: 1 })
    const back = await connect(w2, 'c', persistent)
    expect(back.sessionPresent).toBe(true)
    await Promise.resolve()
    expect(back.link.take().map((r) => [r.payload, r.dup, r.deliveryId === inflight?.deliveryId, r.subscriptionIds])).toEqual([
      ['inflight', true, true, [9]],
      ['queued', false, false, [9]],
    ])
    const pub2 = await connect(w2, 'p', persistent)
    expect(w2.broker.releaseExactlyOnce(pub2.handle, 42)).toBe(true)
  })

  it('[MQTT-4.3.3-11] after a crash, a PUBREL repeated for an id whose release was stored is answered with success; [MQTT-4.3.3-12] the id then carries a new message', async () => {
    const w = await createWorld()
    const sub = await connect(w, 's', persistent)
    sub.subscribe('t', 2)
    const pub = await connect(w, 'p', persistent)
    w.broker.publishExactlyOnce(pub.handle, 42, message(w.clock, 't', 'first', 2))
    expect(w.broker.releaseExactlyOnce(pub.handle, 42)).toBe(true)
    // The PUBCOMP never left: the broker dies, the client sends its PUBREL again after the restart.
    await w.storage.close()
    const w2 = await createWorld({}, { clock: w.clock, storage: w.storage })
    const pub2 = await connect(w2, 'p', persistent)
    const sub2 = await connect(w2, 's', persistent)
    sub2.link.take()
    expect(w2.broker.releaseExactlyOnce(pub2.handle, 42)).toBe(true)
    expect(w2.broker.publishExactlyOnce(pub2.handle, 42, message(w.clock, 't', 'second', 2)).duplicate).toBe(false)
    expect(sub2.link.take().map((r) => r.payload)).toEqual(['second'])
  })

  it('a message taken from the stored queue is inflight in storage in the same turn', async () => {
    const w = await createWorld()
    const c = await connect(w, 'c', persistent)
    c.subscribe('t', 1)
    c.disconnect()
    const pub = await connect(w, 'p')
    pub.publish('t', 'm', 1)
    const back = await connect(w, 'c', persistent)
    await Promise.resolve()
    expect(back.link.received).toHaveLength(1)
    const state = await w.storage.open()
    const stored = state.sessions.find((s) => s.session.clientId === 'c')
    expect(stored?.offlineCount).toBe(0)
    expect(stored?.inflight.map((r) => r.message.payload.toString())).toEqual(['m'])
  })

  it('a message read from the stored queue while the client leaves again stays inflight for the next connection', async () => {
    const w = await createWorld()
    const c = await connect(w, 'c', persistent)
    c.subscribe('t', 1)
    c.disconnect()
    const pub = await connect(w, 'p')
    pub.publish('t', 'm', 1)
    const brief = await connect(w, 'c', { ...persistent, inactive: true })
    w.broker.activate(brief.handle)
    // Gone before Storage answered takeOffline.
    brief.disconnect()
    await Promise.resolve()
    expect(brief.link.received).toEqual([])
    expect(w.broker.stats.inflightCurrent).toBe(1)
    const back = await connect(w, 'c', persistent)
    expect(back.link.take().map((r) => [r.payload, r.dup])).toEqual([['m', false]])
  })

  it('a link that ends its session while a publish is being routed does not break the fan-out', async () => {
    const w = await createWorld()
    const a = await connect(w, 'a', { will: { message: message(w.clock, 'wills/a', 'bye', 1), delayInterval: 0 } })
    const b = await connect(w, 'b')
    const watcher = await connect(w, 'watch')
    a.subscribe('t', 0)
    b.subscribe('t', 0)
    watcher.subscribe('wills/#', 1)
    // The adapter drops a on its first delivery (write buffer full) and reports it synchronously.
    const deliver = a.link.deliver.bind(a.link)
    a.link.deliver = (d) => {
      a.disconnect(true)
      return deliver(d)
    }
    const pub = await connect(w, 'p')
    expect(pub.publish('t', 'x', 0).reason).toBe('accepted')
    expect(b.link.take().map((r) => r.payload)).toEqual(['x'])
    expect(watcher.link.take().map((r) => r.payload)).toEqual(['bye'])
  })

  it('a will published from inside a fan-out keeps the outer publish durable', async () => {
    const w = await createWorld()
    const off = await connect(w, 'off', persistent)
    off.subscribe('t', 1)
    off.disconnect()
    const a = await connect(w, 'a', { will: { message: message(w.clock, 'wills/a', 'bye', 0), delayInterval: 0 } })
    a.subscribe('t', 1)
    const deliver = a.link.deliver.bind(a.link)
    a.link.deliver = (d) => {
      a.disconnect(true)
      return deliver(d)
    }
    const pub = await connect(w, 'p')
    const r = pub.publish('t', 'x', 1)
    expect(r.durable).toBeInstanceOf(Promise)
  })

  it('a link that ends its own session inside deliver() leaves no inflight behind', async () => {
    const w = await createWorld()
    const a = await connect(w, 'a')
    a.subscribe('t', 1)
    const deliver = a.link.deliver.bind(a.link)
    a.link.deliver = (d) => {
      a.disconnect(true)
      return deliver(d)
    }
    const pub = await connect(w, 'p')
    pub.publish('t', 'x', 1)
    expect(w.broker.stats).toMatchObject({ inflightCurrent: 0, sessionsCurrent: 1, connectionsCurrent: 1 })
  })

  it('[MQTT-3.1.2-25] an inflight message too large for the new connection is dropped, not kept forever', async () => {
    const w = await createWorld()
    const c = await connect(w, 'c', persistent)
    c.subscribe('t', 1)
    const pub = await connect(w, 'p')
    pub.publish('t', 'a long payload', 1)
    c.disconnect()
    const back = await connect(w, 'c', { ...persistent, inactive: true })
    back.link.maxPayload = 4
    w.broker.activate(back.handle)
    expect(back.link.received).toEqual([])
    expect(w.broker.stats).toMatchObject({ inflightCurrent: 0, messagesDropped: 1 })
    expect((await w.storage.open()).sessions.find((x) => x.session.clientId === 'c')?.inflight).toEqual([])
  })
})
