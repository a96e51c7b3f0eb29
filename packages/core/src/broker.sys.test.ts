import { describe, expect, it } from 'vitest'
import { connect, createWorld } from './test-support/harness.js'
import type { TestClient } from './test-support/harness.js'

const values = (c: TestClient) => new Map(c.link.take().map((r) => [r.topic, r.payload]))

const load = (name: string) => ['1min', '5min', '15min'].map((w) => `$SYS/broker/load/${name}/${w}`)

describe('Broker $SYS', () => {
  it('publishes mosquitto-named retained counters every sys interval', async () => {
    const w = await createWorld({ sysIntervalMs: 10_000 })
    const c = await connect(w, 'c')
    c.subscribe('$SYS/#', 0)
    c.link.take()
    w.broker.tick(w.clock.t)
    const first = values(c)
    expect([...first.keys()].sort()).toEqual(
      [
        '$SYS/broker/bytes/received',
        '$SYS/broker/bytes/sent',
        '$SYS/broker/clients/connected',
        '$SYS/broker/clients/disconnected',
        '$SYS/broker/clients/expired',
        '$SYS/broker/clients/maximum',
        '$SYS/broker/clients/total',
        '$SYS/broker/messages/inflight',
        '$SYS/broker/publish/messages/dropped',
        '$SYS/broker/publish/messages/received',
        '$SYS/broker/publish/messages/sent',
        '$SYS/broker/retained messages/count',
        '$SYS/broker/subscriptions/count',
        '$SYS/broker/uptime',
        '$SYS/broker/version',
        ...['connections', 'bytes/received', 'bytes/sent', 'publish/received', 'publish/sent', 'publish/dropped'].flatMap(load),
      ].sort(),
    )
    expect(first.get('$SYS/broker/clients/connected')).toBe('1')
    expect(first.get('$SYS/broker/subscriptions/count')).toBe('1')
    w.clock.t += 9_999
    w.broker.tick(w.clock.t)
    expect(c.link.received).toEqual([])
    w.clock.t += 1
    w.broker.countBytes(100, 0)
    w.broker.tick(w.clock.t)
    const second = values(c)
    expect(second.get('$SYS/broker/uptime')).toBe('10 seconds')
    expect(second.get('$SYS/broker/bytes/received')).toBe('100')
    expect(Number(second.get('$SYS/broker/publish/messages/sent'))).toBeGreaterThanOrEqual(first.size)
  })

  it('[MQTT-3.3.1-9] a new $SYS subscription gets a snapshot taken now, not the retained one of the last interval; others get nothing extra', async () => {
    const w = await createWorld({ sysIntervalMs: 10_000 })
    w.broker.tick(w.clock.t)
    const early = await connect(w, 'early')
    early.subscribe('$SYS/broker/clients/connected', 0)
    expect(early.link.take().map((r) => [r.payload, r.retain])).toEqual([['1', true]])
    await connect(w, 'second')
    w.clock.t += 3_000
    const late = await connect(w, 'late')
    late.subscribe('$SYS/broker/#', 0)
    const got = values(late)
    expect(got.get('$SYS/broker/clients/connected')).toBe('3')
    expect(got.get('$SYS/broker/uptime')).toBe('3 seconds')
    expect(early.link.received).toEqual([])
  })

  it('counts clients as mosquitto does: maximum at once, disconnected persistent sessions, expired sessions; inflight and publish counters', async () => {
    const w = await createWorld({ sysIntervalMs: 10_000 })
    const a = await connect(w, 'a', { cleanStart: false, expiry: 5 })
    const b = await connect(w, 'b', { cleanStart: false, expiry: 3600 })
    a.subscribe('t', 1)
    const pub = await connect(w, 'p')
    pub.publish('t', 'x', 1)
    expect(a.link.take()).toHaveLength(1)
    a.disconnect()
    b.disconnect()
    w.clock.t += 5_000
    w.broker.tick(w.clock.t)
    const watch = await connect(w, 'watch')
    watch.subscribe('$SYS/broker/#', 0)
    const got = values(watch)
    expect({
      connected: got.get('$SYS/broker/clients/connected'),
      disconnected: got.get('$SYS/broker/clients/disconnected'),
      total: got.get('$SYS/broker/clients/total'),
      maximum: got.get('$SYS/broker/clients/maximum'),
      expired: got.get('$SYS/broker/clients/expired'),
      inflight: got.get('$SYS/broker/messages/inflight'),
      received: got.get('$SYS/broker/publish/messages/received'),
      sent: got.get('$SYS/broker/publish/messages/sent'),
    }).toEqual({ connected: '2', disconnected: '1', total: '3', maximum: '3', expired: '1', inflight: '0', received: '1', sent: '1' })
  })

  it('load averages: per-minute rates damped over 1, 5 and 15 minutes, moved on the interval only', async () => {
    const w = await createWorld({ sysIntervalMs: 10_000 })
    const pub = await connect(w, 'p')
    const watch = await connect(w, 'watch')
    watch.subscribe('$SYS/broker/load/publish/received/+', 0)
    w.broker.tick(w.clock.t)
    watch.link.take()
    // 10 publishes in 10 s: 60 a minute.
    for (let i = 0; i < 10; i++) pub.publish('t', 'x')
    w.clock.t += 10_000
    w.broker.tick(w.clock.t)
    const rates = load('publish/received')
    const averaged = values(watch)
    expect(rates.map((t) => averaged.get(t))).toEqual(['9.21', '1.97', '0.66'])
    // A new subscriber's refresh does not move the averages.
    w.clock.t += 5_000
    const late = await connect(w, 'late')
    late.subscribe('$SYS/broker/load/publish/received/+', 0)
    const now = values(late)
    expect(rates.map((t) => now.get(t))).toEqual(['9.21', '1.97', '0.66'])
    // Nothing in the next 10 s: each average decays by e^(-10 s / window).
    w.clock.t += 5_000
    w.broker.tick(w.clock.t)
    const decayed = values(watch)
    expect(rates.map((t) => decayed.get(t))).toEqual(['7.80', '1.90', '0.66'])
  })

  it('is off when the interval is 0', async () => {
    const w = await createWorld({ sysIntervalMs: 0 })
    const c = await connect(w, 'c')
    c.subscribe('$SYS/#', 0)
    w.clock.t += 60_000
    w.broker.tick(w.clock.t)
    expect(c.link.received).toEqual([])
  })
})
