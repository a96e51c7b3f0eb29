import { describe, expect, it } from 'vitest'
import { Refusal } from './refusal.js'
import type { Message } from './message.js'
import type { SessionProtocol } from './storage.js'
import { connect, CopyingStorage, createWorld } from './test-support/harness.js'
import type { TestClient, World } from './test-support/harness.js'

describe('Broker retained messages', () => {
  it('[MQTT-3.3.1-5] stores, replaces, and sends on subscribe with RETAIN=1 ([MQTT-3.3.1-8] in 3.1.1) and min QoS', async () => {
    const w = await createWorld()
    const pub = await connect(w, 'p')
    pub.publish('r/a', 'old', 2, { retain: true })
    pub.publish('r/a', 'new', 2, { retain: true })
    pub.publish('r/b', 'b', 0, { retain: true })
    expect(w.broker.stats.retainedCurrent).toBe(2)
    const sub = await connect(w, 's')
    sub.subscribe('r/+', 1, { subscriptionId: 4 })
    const got = sub.link.take().sort((x, y) => x.topic.localeCompare(y.topic))
    expect(got.map((r) => [r.topic, r.payload, r.qos, r.retain, r.subscriptionIds])).toEqual([
      ['r/a', 'new', 1, true, [4]],
      ['r/b', 'b', 0, true, [4]],
    ])
  })

  it('[MQTT-3.3.1-6] [MQTT-3.3.1-7] an empty retained payload deletes and is not stored, but is still routed', async () => {
    const w = await createWorld()
    const pub = await connect(w, 'p')
    const live = await connect(w, 'live')
    live.subscribe('r', 0)
    pub.publish('r', 'x', 0, { retain: true })
    pub.publish('r', '', 0, { retain: true })
    expect(live.link.take().map((r) => r.payload)).toEqual(['x', ''])
    expect(w.broker.stats.retainedCurrent).toBe(0)
    const late = await connect(w, 'late')
    late.subscribe('r', 0)
    expect(late.link.received).toEqual([])
    expect((await w.storage.open()).retained).toEqual([])
  })

  it('[MQTT-3.3.1-9] [MQTT-3.3.1-10] [MQTT-3.3.1-11] Retain Handling 0 always, 1 only for a new subscription, 2 never', async () => {
    const w = await createWorld()
    const pub = await connect(w, 'p')
    pub.publish('r', 'x', 0, { retain: true })
    const c = await connect(w, 'c')
    c.subscribe('r', 0, { retainHandling: 0 })
    c.subscribe('r', 0, { retainHandling: 0 })
    expect(c.link.take()).toHaveLength(2)
    const one = await connect(w, 'one')
    one.subscribe('r', 0, { retainHandling: 1 })
    one.subscribe('r', 0, { retainHandling: 1 })
    expect(one.link.take()).toHaveLength(1)
    const two = await connect(w, 'two')
    two.subscribe('r', 0, { retainHandling: 2 })
    expect(two.link.take()).toHaveLength(0)
  })

  it('broker.max_retained_messages refuses a new topic with QuotaExceeded but replaces existing ones', async () => {
    const w = await createWorld({ maxRetainedMessages: 1 })
    const pub = await connect(w, 'p')
    const sub = await connect(w, 's')
    sub.subscribe('#', 0)
    expect(pub.publish('a', '1', 0, { retain: true }).reason).toBe('accepted')
    expect(pub.publish('b', '1', 0, { retain: true }).reason).toBe(Refusal.QuotaExceeded)
    expect(pub.publish('a', '2', 0, { retain: true }).reason).toBe('accepted')
    expect(sub.link.take().map((r) => [r.topic, r.payload])).toEqual([
      ['a', '1'],
      ['a', '2'],
    ])
  })

  it('[MQTT-3.3.2-5] an expired retained message is not sent and is deleted', async () => {
    const w = await createWorld()
    const pub = await connect(w, 'p')
    pub.publish('r/short', 'x', 0, { retain: true, expiresAt: w.clock.t + 1000 })
    pub.publish('r/lazy', 'x', 0, { retain: true, expiresAt: w.clock.t + 1000 })
    w.clock.t += 1000
    w.broker.tick(w.clock.t)
    const c = await connect(w, 'c')
    c.subscribe('r/#', 0)
    expect(c.link.received).toEqual([])
    expect(w.broker.stats.retainedCurrent).toBe(0)
    expect((await w.storage.open()).retained).toEqual([])
  })

  it('retained messages are persisted, acknowledged durably, and reloaded after a restart', async () => {
    const w = await createWorld()
    const pub = await connect(w, 'p')
    const r = pub.publish('r', 'keep', 1, { retain: true })
    expect(r.durable).toBeInstanceOf(Promise)
    await w.broker.stop()
    const w2 = await createWorld({}, { clock: w.clock, storage: w.storage })
    const c = await connect(w2, 'c')
    c.subscribe('r', 1)
    expect(c.link.take().map((m) => [m.payload, m.retain])).toEqual([['keep', true]])
  })

  it('counts and limits the clients\' retained messages only, not the broker\'s own $SYS snapshot', async () => {
    const w = await createWorld({ sysIntervalMs: 1000, maxRetainedMessages: 1 })
    w.broker.tick(w.clock.t)
    expect(w.broker.stats.retainedCurrent).toBe(0)
    const pub = await connect(w, 'p')
    expect(pub.publish('r/a', 'kept', 1, { retain: true }).reason).toBe('no_subscribers')
    expect(pub.publish('r/b', 'over the limit', 1, { retain: true }).reason).toBe(Refusal.QuotaExceeded)
    w.clock.t += 1000
    w.broker.tick(w.clock.t)
    expect(w.broker.stats.retainedCurrent).toBe(1)
    const c = await connect(w, 'c')
    c.subscribe('$SYS/broker/retained messages/count', 0)
    expect(c.link.take().map((r) => r.payload)).toEqual(['1'])
    pub.publish('r/a', '', 1, { retain: true })
    expect(w.broker.stats.retainedCurrent).toBe(0)
  })

  it('[MQTT-4.7.2-1] a "#" subscription gets no retained $-topics', async () => {
    const w = await createWorld({ sysIntervalMs: 1000 })
    w.broker.tick(w.clock.t)
    const c = await connect(w, 'c')
    c.subscribe('#', 0)
    expect(c.link.received).toEqual([])
    c.subscribe('$SYS/broker/version', 0)
    expect(c.link.take().map((r) => r.payload)).toEqual(['fluxmq 0.1.0-test'])
  })

  it('[MQTT-3.3.1-8] a publish with RETAIN=0 neither stores nor removes the retained message', async () => {
    const w = await createWorld()
    const pub = await connect(w, 'p')
    pub.publish('r', 'kept', 0, { retain: true })
    pub.publish('r', 'live only', 0)
    pub.publish('r', '', 0)
    const c = await connect(w, 'c')
    c.subscribe('r', 0)
    expect(c.link.take().map((m) => m.payload)).toEqual(['kept'])
  })
})

/** Lets microtasks (the offline queue read) run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve))

describe('Broker retained messages through the stored queue (a backend that returns copies)', () => {
  const persistent = (protocol: SessionProtocol) => ({ cleanStart: false, expiry: 3600, receiveMaximum: 1, protocol })

  /** `c` subscribes to `r` while its one-message window is full, so the retained message waits in its queue. */
  async function retainedWaiting(w: World, protocol: SessionProtocol): Promise<TestClient> {
    const pub = await connect(w, 'p')
    pub.publish('r', 'retained', 1, { retain: true })
    const c = await connect(w, 'c', persistent(protocol))
    c.subscribe('t', 1)
    pub.publish('t', 'fills the window', 1)
    c.subscribe('r', 1)
    expect(c.link.take().map((m) => m.payload)).toEqual(['fills the window'])
    return c
  }

  /** Acknowledges until nothing more arrives; returns [payload, RETAIN] of everything after the first delivery. */
  async function drain(c: TestClient): Promise<[string, boolean][]> {
    const seen: [string, boolean][] = []
    for (let round = 0; round < 10; round++) {
      await settle()
      const got = c.link.take()
      if (got.length === 0 && round > 0) break
      for (const r of got) {
        seen.push([r.payload, r.retain])
        c.ack(r)
      }
    }
    return seen
  }

  for (const [protocol, rule] of [
    ['mqtt5', '[MQTT-3.3.1-9]'],
    ['mqtt3', '[MQTT-3.3.1-8]'],
  ] as const) {
    it(`${rule} ${protocol}: a retained message sent on subscribe keeps RETAIN=1 when read back after a reconnect`, async () => {
      const w = await createWorld({}, { storage: new CopyingStorage() })
      const c = await retainedWaiting(w, protocol)
      c.disconnect()
      const back = await connect(w, 'c', persistent(protocol))
      expect(await drain(back)).toEqual([
        ['fills the window', false],
        ['retained', true],
      ])
    })
  }

  it('[MQTT-3.3.1-9] a retained message sent on subscribe keeps RETAIN=1 when read back after a restart', async () => {
    const storage = new CopyingStorage()
    const w = await createWorld({}, { storage })
    await retainedWaiting(w, 'mqtt5')
    await w.broker.stop()
    const w2 = await createWorld({}, { clock: w.clock, storage })
    const back = await connect(w2, 'c', persistent('mqtt5'))
    expect(await drain(back)).toEqual([
      ['fills the window', false],
      ['retained', true],
    ])
  })

  it('[MQTT-3.3.1-12] [MQTT-3.3.1-13] a retained publish routed to a waiting session keeps RETAIN only with Retain As Published', async () => {
    const w = await createWorld({}, { storage: new CopyingStorage() })
    const plain = await connect(w, 'plain', persistent('mqtt5'))
    plain.subscribe('r', 1)
    const rap = await connect(w, 'rap', persistent('mqtt5'))
    rap.subscribe('r', 1, { retainAsPublished: true })
    plain.disconnect()
    rap.disconnect()
    const pub = await connect(w, 'p')
    pub.publish('r', 'live', 1, { retain: true })
    const plainBack = await connect(w, 'plain', persistent('mqtt5'))
    expect(await drain(plainBack)).toEqual([['live', false]])
    const rapBack = await connect(w, 'rap', persistent('mqtt5'))
    expect(await drain(rapBack)).toEqual([['live', true]])
  })

  it('a retained publish queued for many sessions is stored as one RETAIN=0 message object, not one per session', async () => {
    const appended: Message[] = []
    class Recording extends CopyingStorage {
      override appendOffline(clientId: string, message: Message): void {
        appended.push(message)
        super.appendOffline(clientId, message)
      }
    }
    const w = await createWorld({}, { storage: new Recording() })
    for (const id of ['a', 'b', 'c']) {
      const c = await connect(w, id, persistent('mqtt5'))
      c.subscribe('r', 1)
      c.disconnect()
    }
    const pub = await connect(w, 'p')
    pub.publish('r', 'x', 1, { retain: true })
    expect(appended).toHaveLength(3)
    expect(new Set(appended).size).toBe(1)
    expect(appended[0]?.retain).toBe(false)
  })
})
