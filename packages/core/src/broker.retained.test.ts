import { describe, expect, it } from 'vitest'
import { ReasonCode } from './reason-code.js'
import { connect, createWorld } from './test-support/harness.js'

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
    expect(pub.publish('a', '1', 0, { retain: true }).reason).toBe(ReasonCode.Success)
    expect(pub.publish('b', '1', 0, { retain: true }).reason).toBe(ReasonCode.QuotaExceeded)
    expect(pub.publish('a', '2', 0, { retain: true }).reason).toBe(ReasonCode.Success)
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
