import { describe, expect, it } from 'vitest'
import { connect, createWorld } from './test-support/harness.js'

describe('Broker shared subscriptions [MQTT-4.8.2]', () => {
  it('gives each message to one member of each group, round-robin', async () => {
    const w = await createWorld()
    const a = await connect(w, 'a')
    const b = await connect(w, 'b')
    const other = await connect(w, 'other')
    a.subscribe('$share/g/jobs/+', 1)
    b.subscribe('$share/g/jobs/+', 1)
    other.subscribe('$share/h/jobs/+', 1)
    const pub = await connect(w, 'p')
    for (let i = 0; i < 6; i++) pub.publish('jobs/x', `j${i}`, 1)
    expect(a.link.take().map((r) => r.payload)).toEqual(['j0', 'j2', 'j4'])
    expect(b.link.take().map((r) => r.payload)).toEqual(['j1', 'j3', 'j5'])
    expect(other.link.take()).toHaveLength(6)
  })

  it('skips disconnected members, falling back to a persistent member offline queue when none is connected', async () => {
    const w = await createWorld()
    const a = await connect(w, 'a', { cleanStart: false, expiry: 600 })
    const b = await connect(w, 'b', { cleanStart: false, expiry: 600 })
    a.subscribe('$share/g/t', 1)
    b.subscribe('$share/g/t', 1)
    a.disconnect()
    const pub = await connect(w, 'p')
    pub.publish('t', 'm0', 1)
    pub.publish('t', 'm1', 1)
    expect(b.link.take().map((r) => r.payload)).toEqual(['m0', 'm1'])
    b.disconnect()
    expect(pub.publish('t', 'm2', 1).reason).toBe('accepted')
    expect(w.broker.stats.offlineQueuedCurrent).toBe(1)
  })

  it('a session with a shared and an ordinary subscription gets a copy from each', async () => {
    const w = await createWorld()
    const a = await connect(w, 'a')
    a.subscribe('$share/g/t', 1)
    a.subscribe('t', 1)
    const pub = await connect(w, 'p')
    pub.publish('t', 'x', 1)
    expect(a.link.take()).toHaveLength(2)
  })

  it('retained messages are not sent for a shared subscription', async () => {
    const w = await createWorld()
    const pub = await connect(w, 'p')
    pub.publish('t', 'r', 0, { retain: true })
    const a = await connect(w, 'a')
    a.subscribe('$share/g/t', 1)
    expect(a.link.received).toEqual([])
  })

  it('leaving the group rebalances; the last member leaving removes the group', async () => {
    const w = await createWorld()
    const a = await connect(w, 'a')
    const b = await connect(w, 'b')
    a.subscribe('$share/g/t', 1)
    b.subscribe('$share/g/t', 1)
    expect(w.broker.unsubscribe(a.handle, ['$share/g/t'])).toEqual([true])
    const pub = await connect(w, 'p')
    pub.publish('t', '1', 0)
    pub.publish('t', '2', 0)
    expect(b.link.take()).toHaveLength(2)
    b.disconnect()
    expect(pub.publish('t', '3', 0).reason).toBe('no_subscribers')
  })
})
