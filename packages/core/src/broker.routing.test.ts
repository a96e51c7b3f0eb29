import { describe, expect, it } from 'vitest'
import type { QoS } from './message.js'
import { connect, createWorld, rng, type TestClient } from './test-support/harness.js'
import { naiveMatches } from './test-support/naive-match.js'

interface Sub {
  readonly filter: string
  readonly qos: QoS
  readonly id?: number
  readonly noLocal: boolean
  readonly rap: boolean
}

describe('Broker routing against a naive model', () => {
  for (const seed of [7, 99, 31337]) {
    it(`[MQTT-3.3.4-2] [MQTT-3.3.4-3] [MQTT-3.8.3-3] [MQTT-3.3.1-12] [MQTT-3.3.1-13] [MQTT-4.7.2-1] random subscriptions and publishes (seed ${seed})`, async () => {
      const random = rng(seed)
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T
      const filters = ['a', 'a/b', 'a/+', 'a/#', '#', '+/b', '+/+', 'a/b/c', '+', '$x/#', '$x/+', 'b/#', '/+']
      const topics = ['a', 'a/b', 'a/c', 'a/b/c', 'b', 'b/b', '$x/y', '/x', 'a/']
      const w = await createWorld()
      const clients: TestClient[] = []
      const model = new Map<string, Map<string, Sub>>()
      let nextId = 1
      for (let i = 0; i < 20; i++) {
        const c = await connect(w, `c${i}`)
        const subs = new Map<string, Sub>()
        for (let k = Math.floor(random() * 6); k > 0; k--) {
          const sub: Sub = {
            filter: pick(filters),
            qos: Math.floor(random() * 3) as QoS,
            id: random() < 0.5 ? nextId++ : undefined,
            noLocal: random() < 0.3,
            rap: random() < 0.3,
          }
          c.subscribe(sub.filter, sub.qos, { subscriptionId: sub.id, noLocal: sub.noLocal, retainAsPublished: sub.rap, retainHandling: 2 })
          subs.set(sub.filter, sub)
        }
        clients.push(c)
        model.set(c.id, subs)
      }
      for (let n = 0; n < 500; n++) {
        const publisher = pick(clients)
        const topic = pick(topics)
        const qos = Math.floor(random() * 3) as QoS
        const retain = random() < 0.2
        const r = publisher.publish(topic, `m${n}`, qos, { retain })
        let anyMatch = false
        for (const c of clients) {
          const got = c.link.take()
          const subs = [...(model.get(c.id) as Map<string, Sub>).values()].filter(
            (s) => naiveMatches(s.filter, topic) && !(s.noLocal && c.id === publisher.id),
          )
          if (subs.length === 0) {
            expect(got, `seed ${seed} ${c.id} ${topic}`).toEqual([])
            continue
          }
          anyMatch = true
          expect(got, `seed ${seed} ${c.id} ${topic}`).toHaveLength(1)
          const d = got[0]
          const maxQos = Math.max(...subs.map((s) => s.qos))
          expect(d?.qos).toBe(Math.min(qos, maxQos))
          expect(d?.retain).toBe(retain && subs.some((s) => s.rap))
          const ids = subs.flatMap((s) => (s.id === undefined ? [] : [s.id])).sort((x, y) => x - y)
          expect([...(d?.subscriptionIds ?? [])].sort((x, y) => x - y)).toEqual(ids)
          if (d !== undefined) c.ack(d)
        }
        // no_subscribers exactly when nobody received it.
        expect(r.reason, `seed ${seed} ${topic}`).toBe(anyMatch ? 'accepted' : 'no_subscribers')
      }
    })
  }
})
