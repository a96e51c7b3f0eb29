import { describe, expect, it } from 'vitest'
import type { Authorizer } from './auth.js'
import { Refusal } from './refusal.js'
import { connect, createWorld, message } from './test-support/harness.js'

describe('Broker delivery', () => {
  it('[MQTT-3.3.4-2] [MQTT-3.3.4-3] [MQTT-3.3.4-4] overlapping subscriptions: one delivery, highest QoS, every subscription id', async () => {
    const w = await createWorld()
    const sub = await connect(w, 'sub')
    sub.subscribe('a/+', 1, { subscriptionId: 1 })
    sub.subscribe('a/#', 2, { subscriptionId: 2 })
    sub.subscribe('#', 0)
    sub.subscribe('a/b', 0, { subscriptionId: 3 })
    const pub = await connect(w, 'pub')
    pub.publish('a/b', 'x', 2)
    const got = sub.link.take()
    expect(got).toHaveLength(1)
    expect(got[0]?.qos).toBe(2)
    expect([...(got[0]?.subscriptionIds ?? [])].sort()).toEqual([1, 2, 3])
    // A second publish still carries exactly the right ids (the merge must not leak into shared arrays).
    pub.publish('a/c', 'y', 1)
    expect(sub.link.take().map((r) => [...(r.subscriptionIds ?? [])].sort())).toEqual([[1, 2]])
  })

  it('[MQTT-3.8.4-8] QoS is min(published, granted) and granted is capped at broker.max_qos', async () => {
    const w = await createWorld({ maxQos: 1 })
    const sub = await connect(w, 'sub')
    expect(sub.subscribe('q', 2).codes).toEqual([1])
    const low = await connect(w, 'low')
    expect(low.subscribe('q', 0).codes).toEqual([0])
    const pub = await connect(w, 'pub')
    pub.publish('q', 'x', 2)
    expect(sub.link.take().map((r) => r.qos)).toEqual([1])
    expect(low.link.take().map((r) => r.qos)).toEqual([0])
  })

  it('[MQTT-3.8.3-3] No Local: not sent back to the publishing client', async () => {
    const w = await createWorld()
    const c = await connect(w, 'c')
    c.subscribe('t', 1, { noLocal: true })
    const other = await connect(w, 'other')
    other.subscribe('t', 1)
    c.publish('t', 'mine', 1)
    expect(c.link.received).toEqual([])
    expect(other.link.take()).toHaveLength(1)
    other.publish('t', 'theirs', 1)
    expect(c.link.take().map((r) => r.payload)).toEqual(['theirs'])
  })

  it('[MQTT-3.3.1-12] [MQTT-3.3.1-13] RETAIN on forwarded messages follows Retain As Published', async () => {
    const w = await createWorld()
    const plain = await connect(w, 'plain')
    plain.subscribe('t', 0)
    const rap = await connect(w, 'rap')
    rap.subscribe('t', 0, { retainAsPublished: true })
    const pub = await connect(w, 'pub')
    pub.publish('t', 'r', 0, { retain: true })
    expect(plain.link.take().map((r) => r.retain)).toEqual([false])
    expect(rap.link.take().map((r) => r.retain)).toEqual([true])
  })

  it('[MQTT-3.3.4-9] at most Receive Maximum QoS 1/2 deliveries unacknowledged; QoS 0 is not windowed', async () => {
    const w = await createWorld()
    const sub = await connect(w, 'sub', { receiveMaximum: 2 })
    sub.subscribe('t', 2)
    const pub = await connect(w, 'pub')
    for (let i = 0; i < 5; i++) pub.publish('t', `m${i}`, 1)
    pub.publish('t', 'q0', 0)
    let got = sub.link.take()
    expect(got.map((r) => r.payload)).toEqual(['m0', 'm1', 'q0'])
    expect(w.broker.stats.offlineQueuedCurrent).toBe(3)
    w.broker.settle(sub.handle, got[0]?.deliveryId ?? 0, 'accepted')
    got = sub.link.take()
    expect(got.map((r) => r.payload)).toEqual(['m2'])
    w.broker.settle(sub.handle, got[0]?.deliveryId ?? 0, 'accepted')
    expect(sub.link.take().map((r) => r.payload)).toEqual(['m3'])
    // Settled by its short id, as the MQTT adapter does with the packet identifier.
    w.broker.settle(sub.handle, 2, 'accepted')
    expect(sub.link.take().map((r) => r.payload)).toEqual(['m4'])
    expect(w.broker.stats.offlineQueuedCurrent).toBe(0)
  })

  it('[MQTT-2.2.1-3] short delivery ids (the MQTT packet ids) are never reused while unsettled, never 0, and wrap', async () => {
    const w = await createWorld()
    const sub = await connect(w, 'sub', { receiveMaximum: 65535 })
    sub.subscribe('t', 1)
    const pub = await connect(w, 'pub')
    pub.publish('t', 'held', 1)
    const held = sub.link.take()[0]?.deliveryId ?? 0
    expect(held).toBe(0x10001)
    const seen = new Set<number>()
    const bad: number[] = []
    for (let i = 0; i < 70_000; i++) {
      pub.publish('t', 'x', 1)
      for (const r of sub.link.take()) {
        const short = r.deliveryId & 0xffff
        if (short === (held & 0xffff) || short === 0 || r.deliveryId > 0xffffffff) bad.push(r.deliveryId)
        seen.add(short)
        w.broker.settle(sub.handle, r.deliveryId, 'accepted')
      }
    }
    expect(bad).toEqual([])
    expect(seen.size).toBe(65534)
  })

  it('[MQTT-3.1.2-25] a message the client cannot take is skipped for it and counted as dropped', async () => {
    const w = await createWorld()
    const sub = await connect(w, 'sub')
    sub.link.maxPayload = 3
    sub.subscribe('t', 1)
    const pub = await connect(w, 'pub')
    pub.publish('t', 'too long', 1)
    pub.publish('t', 'ok', 1)
    expect(sub.link.take().map((r) => r.payload)).toEqual(['ok'])
    expect(w.broker.stats.inflightCurrent).toBe(1)
    expect(w.broker.stats.messagesDropped).toBe(1)
  })

  it('[MQTT-3.3.2-2] publishes to invalid topic names are refused', async () => {
    const w = await createWorld()
    const pub = await connect(w, 'pub')
    expect(pub.publish('a/+', 'x').reason).toBe(Refusal.TopicInvalid)
    expect(w.broker.publish(null, message(w.clock, '', 'x')).reason).toBe(Refusal.TopicInvalid)
  })

  it('the Authorizer decides publishes and subscriptions (not_authorized); $SYS is read-only', async () => {
    const authorizer: Authorizer = {
      canPublish: (c, t) => c.username === 'admin' || !t.startsWith('secret'),
      canSubscribe: (c, f) => c.username === 'admin' || !f.startsWith('secret'),
    }
    const w = await createWorld({ authorizer })
    const user = await connect(w, 'u', { username: 'user' })
    const admin = await connect(w, 'a', { username: 'admin' })
    expect(user.subscribe('secret/#', 1).codes).toEqual([Refusal.NotAuthorized])
    expect(admin.subscribe('secret/#', 1).codes).toEqual([1])
    expect(user.publish('secret/x', 'x', 1).reason).toBe(Refusal.NotAuthorized)
    expect(admin.link.received).toEqual([])
    expect(admin.publish('secret/x', 'x', 1).reason).toBe('accepted')
    expect(admin.link.take().map((r) => r.payload)).toEqual(['x'])
    expect(admin.publish('$SYS/broker/version', 'fake').reason).toBe(Refusal.NotAuthorized)
  })

  it('refuses filters that are invalid, No Local on shared [MQTT-3.8.3-4], and beyond the per-client quota', async () => {
    const w = await createWorld({ maxSubscriptionsPerClient: 2 })
    const c = await connect(w, 'c')
    const req = (filter: string, noLocal = false) => ({ filter, qos: 1 as const, noLocal, retainAsPublished: false, retainHandling: 0 as const })
    const res = w.broker.subscribe(c.handle, [req('a/#/b'), req('$share/g/t', true), req('a'), req('b'), req('a'), req('c')])
    expect(res.codes).toEqual([
      Refusal.TopicInvalid,
      Refusal.ProtocolViolation,
      1,
      1,
      1,
      Refusal.QuotaExceeded,
    ])
    expect(w.broker.stats.subscriptionsCurrent).toBe(2)
  })

  it('unsubscribe tells which filters were subscribed and stops deliveries', async () => {
    const w = await createWorld()
    const c = await connect(w, 'c')
    c.subscribe('a', 1)
    expect(w.broker.unsubscribe(c.handle, ['a', 'b'])).toEqual([true, false])
    const pub = await connect(w, 'p')
    expect(pub.publish('a', 'x', 1).reason).toBe('no_subscribers')
    expect(w.broker.stats.subscriptionsCurrent).toBe(0)
  })

  it('[MQTT-4.3.3-10] an incoming QoS 2 duplicate is acknowledged but not routed again; [MQTT-4.3.3-12] after PUBREL it is new', async () => {
    const w = await createWorld()
    const sub = await connect(w, 'sub')
    sub.subscribe('t', 2)
    const pub = await connect(w, 'pub')
    const m = message(w.clock, 't', 'once', 2, { publisherId: 'pub' })
    expect(w.broker.publishExactlyOnce(pub.handle, 7, m)).toMatchObject({ reason: 'accepted', duplicate: false })
    expect(w.broker.publishExactlyOnce(pub.handle, 7, m)).toMatchObject({ reason: 'accepted', duplicate: true })
    expect(sub.link.take()).toHaveLength(1)
    expect(w.broker.releaseExactlyOnce(pub.handle, 7)).toBe(true)
    expect(w.broker.publishExactlyOnce(pub.handle, 7, m).duplicate).toBe(false)
    expect(sub.link.take()).toHaveLength(1)
  })

  it('[MQTT-4.3.3-11] a PUBREL repeated for a released id (its PUBCOMP lost with the connection) is answered with success again; a never received id is unknown', async () => {
    const w = await createWorld()
    const pub = await connect(w, 'pub', { cleanStart: false, expiry: 600 })
    w.broker.publishExactlyOnce(pub.handle, 7, message(w.clock, 't', 'x', 2))
    expect(w.broker.releaseExactlyOnce(pub.handle, 7)).toBe(true)
    pub.disconnect(true)
    const back = await connect(w, 'pub', { cleanStart: false, expiry: 600 })
    expect(w.broker.releaseExactlyOnce(back.handle, 7)).toBe(true)
    expect(w.broker.releaseExactlyOnce(back.handle, 8)).toBe(false)
  })

  for (const [receiveMaximum, kept] of [
    [undefined, 256],
    [1000, 1000],
  ] as const) {
    it(`[MQTT-4.3.3-11] receive maximum ${receiveMaximum ?? 'default'}: the newest ${kept} released ids answer a repeated PUBREL after a reconnect and a restart; an older one is unknown again`, async () => {
      const w = await createWorld(receiveMaximum === undefined ? {} : { receiveMaximum })
      const pub = await connect(w, 'pub', { cleanStart: false, expiry: 600 })
      for (let id = 1; id <= kept + 1; id++) {
        w.broker.publishExactlyOnce(pub.handle, id, message(w.clock, 't', 'x', 2))
        w.broker.releaseExactlyOnce(pub.handle, id)
      }
      pub.disconnect(true)
      const back = await connect(w, 'pub', { cleanStart: false, expiry: 600 })
      expect(w.broker.releaseExactlyOnce(back.handle, 1)).toBe(false)
      expect(w.broker.releaseExactlyOnce(back.handle, 2)).toBe(true)
      expect(w.broker.releaseExactlyOnce(back.handle, kept + 1)).toBe(true)
      await w.broker.stop()
      const stored = (await w.storage.open()).sessions.find((s) => s.session.clientId === 'pub')
      expect(stored?.releasedQos2).toHaveLength(kept)
      expect(stored?.releasedQos2).not.toContain(1)
      const w2 = await createWorld(receiveMaximum === undefined ? {} : { receiveMaximum }, { clock: w.clock, storage: w.storage })
      const restarted = await connect(w2, 'pub', { cleanStart: false, expiry: 600 })
      expect(w2.broker.releaseExactlyOnce(restarted.handle, 2)).toBe(true)
      expect(w2.broker.releaseExactlyOnce(restarted.handle, kept + 1)).toBe(true)
    })
  }

  it('a refused incoming QoS 2 PUBLISH does not hold its packet id', async () => {
    const w = await createWorld({ authorizer: { canPublish: () => false, canSubscribe: () => true } })
    const pub = await connect(w, 'pub')
    const m = message(w.clock, 't', 'x', 2)
    expect(w.broker.publishExactlyOnce(pub.handle, 1, m)).toMatchObject({ reason: Refusal.NotAuthorized, duplicate: false })
    expect(w.broker.releaseExactlyOnce(pub.handle, 1)).toBe(false)
  })

  it('acks for unknown ids or the wrong QoS are refused', async () => {
    const w = await createWorld()
    const sub = await connect(w, 'sub')
    sub.subscribe('t', 2)
    const pub = await connect(w, 'pub')
    pub.publish('t', 'q1', 1)
    pub.publish('t', 'q2', 2)
    const [q1, q2] = sub.link.take()
    expect(w.broker.received(sub.handle, q1?.deliveryId ?? 0)).toBe(false)
    expect(w.broker.settle(sub.handle, q2?.deliveryId ?? 0, 'accepted')).toBe(false)
    expect(w.broker.settle(sub.handle, 999, 'accepted')).toBe(false)
    expect(w.broker.received(sub.handle, q2?.deliveryId ?? 0)).toBe(true)
    // A repeated PUBREC is answered again (the adapter resends PUBREL).
    expect(w.broker.received(sub.handle, q2?.deliveryId ?? 0)).toBe(true)
  })

  it('a two-phase delivery refused before its receipt is settled rejected; a stale full id settles nothing', async () => {
    const w = await createWorld()
    const sub = await connect(w, 'sub')
    sub.subscribe('t', 2)
    const pub = await connect(w, 'pub')
    pub.publish('t', 'refused', 2)
    const [refused] = sub.link.take()
    expect(w.broker.settle(sub.handle, refused?.deliveryId ?? 0, 'rejected')).toBe(true)
    expect(w.broker.stats.inflightCurrent).toBe(0)
    pub.publish('t', 'next', 1)
    const [next] = sub.link.take()
    const id = next?.deliveryId ?? 0
    // Another delivery id with the same short id names a different (settled) delivery.
    expect(w.broker.settle(sub.handle, id + 0x10000, 'accepted')).toBe(false)
    expect(w.broker.settle(sub.handle, id, 'accepted')).toBe(true)
  })

  it('counts messages and bytes in stats', async () => {
    const w = await createWorld()
    const sub = await connect(w, 'sub')
    sub.subscribe('t', 0)
    const pub = await connect(w, 'pub')
    pub.publish('t', 'x')
    pub.publish('u', 'x')
    w.broker.countBytes(10, 20)
    expect(w.broker.stats).toMatchObject({ messagesReceived: 2, messagesSent: 1, bytesReceived: 10, bytesSent: 20, connectionsCurrent: 2 })
  })

  it('[MQTT-3.8.4-3] subscribing again to the same filter replaces the subscription', async () => {
    const w = await createWorld()
    const sub = await connect(w, 'sub')
    sub.subscribe('t', 2, { subscriptionId: 1 })
    expect(sub.subscribe('t', 0, { subscriptionId: 2 }).codes).toEqual([0])
    const pub = await connect(w, 'pub')
    pub.publish('t', 'x', 2)
    expect(sub.link.take().map((r) => [r.qos, r.subscriptionIds])).toEqual([[0, [2]]])
    expect(w.broker.stats.subscriptionsCurrent).toBe(1)
  })
})
