import { describe, expect, it } from 'vitest'
import { Refusal } from './refusal.js'
import type { WillRecord } from './storage.js'
import { connect, createWorld, FakeClock, message, type TestClient, type World } from './test-support/harness.js'
import { TwinClusters } from './test-support/twin-cluster.js'

function will(w: World, delayInterval: number): WillRecord {
  return { message: message(w.clock, 'will/c', 'gone', 1, { publisherId: 'c' }), delayInterval }
}

async function watcher(w: World, id: string): Promise<TestClient> {
  const c = await connect(w, id)
  c.subscribe('will/#', 1)
  return c
}

/** Two nodes sharing one cluster and one clock, each with a watcher of `will/#`. */
async function twoNodes() {
  const clusters = new TwinClusters()
  const clock = new FakeClock()
  const a = await createWorld({ nodeId: 'a' }, { clock, cluster: clusters.node('a') })
  const b = await createWorld({ nodeId: 'b' }, { clock, cluster: clusters.node('b') })
  return { clock, a, b, watchers: [await watcher(a, 'wa'), await watcher(b, 'wb')] }
}

function tickBoth(a: World, b: World, ms: number): void {
  a.clock.t += ms
  a.broker.tick(a.clock.t)
  b.broker.tick(b.clock.t)
}

/** Will Delay, Session Expiry of the first connection, Clean Start of the second → times published. */
const cases: [delay: number, expiry: number, cleanStart: boolean, published: number][] = [
  [0, 600, false, 1],
  [0, 600, true, 1],
  [0, 0, true, 1],
  [30, 600, true, 1],
  [30, 0, true, 1],
  // [MQTT-3.1.3-9] The new connection came before the Will Delay elapsed: the will is not sent.
  [30, 600, false, 0],
]

describe('a will fires exactly once on every takeover path', () => {
  for (const [delay, expiry, cleanStart, published] of cases) {
    const name = `will delay ${delay}, expiry ${expiry}, clean start ${cleanStart}: published ${published}×`

    it(`[MQTT-3.1.4-3] takeover on the same node, ${name}`, async () => {
      const w = await createWorld()
      const watch = await watcher(w, 'watch')
      const first = await connect(w, 'c', { will: will(w, delay), cleanStart: false, expiry })
      const second = await connect(w, 'c', { cleanStart, expiry: 600 })
      expect(first.link.closed).toBe(Refusal.SessionTakenOver)
      w.clock.t += 3_600_000
      w.broker.tick(w.clock.t)
      second.disconnect(false)
      w.clock.t += 3_600_000
      w.broker.tick(w.clock.t)
      expect(watch.link.take().map((r) => r.payload)).toEqual(Array(published).fill('gone'))
    })

    it(`takeover across nodes (surrender), ${name}`, async () => {
      const { a, b, watchers } = await twoNodes()
      const first = await connect(a, 'c', { will: will(a, delay), cleanStart: false, expiry })
      const second = await connect(b, 'c', { cleanStart, expiry: 600 })
      expect(first.link.closed).toBe(Refusal.SessionTakenOver)
      expect(a.broker.session('c')).toBeUndefined()
      tickBoth(a, b, 3_600_000)
      second.disconnect(false)
      tickBoth(a, b, 3_600_000)
      for (const watch of watchers) expect(watch.link.take().map((r) => r.payload), watch.id).toEqual(Array(published).fill('gone'))
    })
  }

  it('[MQTT-4.4.0-1] a session moved across nodes keeps its subscriptions and queued messages, and moves back', async () => {
    const { a, b } = await twoNodes()
    const first = await connect(a, 'c', { cleanStart: false, expiry: 600 })
    first.subscribe('t', 1)
    first.disconnect(false)
    const pub = await connect(b, 'p')
    pub.publish('t', 'while away', 1)
    const onB = await connect(b, 'c', { cleanStart: false, expiry: 600 })
    expect(onB.sessionPresent).toBe(true)
    expect(onB.link.received.map((r) => r.payload)).toEqual(['while away'])
    onB.ackAll()
    pub.publish('t', 'on b', 1)
    expect(onB.link.received.map((r) => r.payload)).toEqual(['on b'])
    const back = await connect(a, 'c', { cleanStart: false, expiry: 600 })
    expect(onB.link.closed).toBe(Refusal.SessionTakenOver)
    pub.publish('t', 'on a again', 1)
    // 'on b' was never acknowledged: it moved back as inflight and is resent first [MQTT-4.4.0-1].
    expect(back.link.take().map((r) => [r.payload, r.dup])).toEqual([
      ['on b', true],
      ['on a again', false],
    ])
  })
})
