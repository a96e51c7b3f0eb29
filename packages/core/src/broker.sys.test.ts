import { describe, expect, it } from 'vitest'
import { connect, createWorld } from './test-support/harness.js'

describe('Broker $SYS', () => {
  it('publishes mosquitto-named retained counters every sys interval', async () => {
    const w = await createWorld({ sysIntervalMs: 10_000 })
    const c = await connect(w, 'c')
    c.subscribe('$SYS/#', 0)
    w.broker.tick(w.clock.t)
    const first = new Map(c.link.take().map((r) => [r.topic, r.payload]))
    expect([...first.keys()].sort()).toEqual([
      '$SYS/broker/bytes/received',
      '$SYS/broker/bytes/sent',
      '$SYS/broker/clients/connected',
      '$SYS/broker/clients/total',
      '$SYS/broker/messages/dropped',
      '$SYS/broker/messages/received',
      '$SYS/broker/messages/sent',
      '$SYS/broker/retained messages/count',
      '$SYS/broker/subscriptions/count',
      '$SYS/broker/uptime',
      '$SYS/broker/version',
    ])
    expect(first.get('$SYS/broker/clients/connected')).toBe('1')
    expect(first.get('$SYS/broker/subscriptions/count')).toBe('1')
    w.clock.t += 9_999
    w.broker.tick(w.clock.t)
    expect(c.link.received).toEqual([])
    w.clock.t += 1
    w.broker.countBytes(100, 0)
    w.broker.tick(w.clock.t)
    const second = new Map(c.link.take().map((r) => [r.topic, r.payload]))
    expect(second.get('$SYS/broker/uptime')).toBe('10 seconds')
    expect(second.get('$SYS/broker/bytes/received')).toBe('100')
    expect(Number(second.get('$SYS/broker/messages/sent'))).toBeGreaterThanOrEqual(11)
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
