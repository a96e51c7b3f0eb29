import { setImmediate as flush } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import type { QoS } from './message.js'
import { connect, createWorld, rng, type TestClient, type World } from './test-support/harness.js'

const TOPICS = ['t/0', 't/1', 't/2', 't/3']
const SUBSCRIBERS = 6
const persistent = { cleanStart: false, expiry: 1_000_000 }

/** What one subscriber has acknowledged and still owes acknowledgements for, across its connections. */
class Subscriber {
  client: TestClient | undefined
  /** Payloads acknowledged (PUBACK or PUBREC): what the client has for sure. */
  readonly acked = new Set<string>()
  /** QoS 2 payloads → how many times they were accepted with PUBREC (must be once). */
  readonly exactlyOnce = new Map<string, number>()
  /** deliveryId → what is owed: settlement (QoS 1), receipt (QoS 2, PUBREC) or final settlement (PUBCOMP), and for which payload. */
  readonly owed = new Map<number, { stage: 'settle' | 'receive' | 'complete'; payload: string }>()

  constructor(
    readonly id: string,
    readonly topics: readonly string[],
    readonly receiveMaximum: number,
  ) {}

  absorb(): number {
    const c = this.client
    if (c === undefined) return 0
    const got = c.link.take()
    for (const r of got) this.owed.set(r.deliveryId, { stage: r.qos === 1 ? 'settle' : 'receive', payload: r.payload })
    for (const id of c.link.secondPhase.splice(0)) this.owed.set(id, { stage: 'complete', payload: '' })
    // [MQTT-3.3.4-9] Never more unacknowledged (PUBACK/PUBCOMP outstanding) than Receive Maximum.
    expect(this.owed.size).toBeLessThanOrEqual(this.receiveMaximum)
    return got.length
  }

  ack(world: World, random: () => number, all: boolean): void {
    const c = this.client
    if (c === undefined) return
    for (const [id, { stage, payload }] of [...this.owed]) {
      if (!all && random() < 0.5) continue
      this.owed.delete(id)
      if (stage === 'settle') {
        expect(world.broker.settle(c.handle, id, 'accepted')).toBe(true)
        this.acked.add(payload)
      } else if (stage === 'receive') {
        expect(world.broker.received(c.handle, id)).toBe(true)
        this.acked.add(payload)
        this.exactlyOnce.set(payload, (this.exactlyOnce.get(payload) ?? 0) + 1)
        this.owed.set(id, { stage: 'complete', payload })
      } else expect(world.broker.settle(c.handle, id, 'accepted')).toBe(true)
    }
  }
}

async function run(seed: number): Promise<void> {
  const random = rng(seed)
  let world = await createWorld({ maxOfflineMessages: 0 })
  const subs: Subscriber[] = []
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const topics = TOPICS.filter(() => random() < 0.5)
    const s = new Subscriber(`s${i}`, topics, 1 + Math.floor(random() * 4))
    s.client = await connect(world, s.id, { ...persistent, receiveMaximum: s.receiveMaximum })
    for (const t of topics) s.client.subscribe(t, (1 + Math.floor(random() * 2)) as QoS)
    subs.push(s)
  }
  const expected = new Map<string, string[]>()
  let publisher = await connect(world, 'pub', persistent)
  let n = 0

  const reconnect = async (s: Subscriber): Promise<void> => {
    s.owed.clear()
    s.client = await connect(world, s.id, { ...persistent, receiveMaximum: s.receiveMaximum })
    expect(s.client.sessionPresent).toBe(true)
  }

  for (let step = 0; step < 400; step++) {
    const roll = random()
    const s = subs[Math.floor(random() * subs.length)] as Subscriber
    if (roll < 0.4) {
      const topic = TOPICS[Math.floor(random() * TOPICS.length)] as string
      const payload = `m${n++}`
      const r = publisher.publish(topic, payload, (1 + Math.floor(random() * 2)) as QoS)
      await r.durable
      if (r.reason === 'accepted') expected.set(payload, subs.filter((x) => x.topics.includes(topic)).map((x) => x.id))
    } else if (roll < 0.65) {
      s.absorb()
      s.ack(world, random, false)
    } else if (roll < 0.78) {
      if (s.client !== undefined) {
        s.absorb()
        s.client.disconnect(random() < 0.5)
        s.client = undefined
      }
    } else if (roll < 0.9) {
      if (s.client === undefined) await reconnect(s)
    } else if (roll < 0.93) {
      // Crash: drop the broker without stop(), start a new one on the same storage.
      for (const x of subs) x.absorb()
      await world.storage.close()
      world = await createWorld({ maxOfflineMessages: 0 }, { clock: world.clock, storage: world.storage })
      publisher = await connect(world, 'pub', persistent)
      for (const x of subs) if (x.client !== undefined) await reconnect(x)
    } else if (roll < 0.96) {
      // The link's credit: a few deliveries more, none, or all it wants again.
      if (s.client !== undefined) {
        if (random() < 0.6) s.client.link.credit = Math.floor(random() * 3)
        else {
          s.client.link.credit = Infinity
          world.broker.creditAvailable(s.client.handle)
        }
      }
    } else {
      world.clock.t += Math.floor(random() * 5000)
      world.broker.tick(world.clock.t)
    }
    await flush()
  }

  for (const s of subs) if (s.client === undefined) await reconnect(s)
  for (const s of subs) {
    s.client!.link.credit = Infinity
    world.broker.creditAvailable(s.client!.handle)
  }
  for (let round = 0; round < 200; round++) {
    await flush()
    let moved = 0
    for (const s of subs) {
      moved += s.absorb() + s.owed.size
      s.ack(world, random, true)
    }
    if (moved === 0) break
  }
  for (const [payload, ids] of expected) {
    for (const id of ids) {
      const s = subs.find((x) => x.id === id) as Subscriber
      expect(s.acked.has(payload), `seed ${seed}: ${id} never got ${payload}`).toBe(true)
      expect(s.exactlyOnce.get(payload) ?? 1, `seed ${seed}: ${id} accepted QoS 2 ${payload} twice`).toBe(1)
    }
  }
  expect(world.broker.stats.inflightCurrent, `seed ${seed}`).toBe(0)
  expect(world.broker.stats.offlineQueuedCurrent, `seed ${seed}`).toBe(0)
}

describe('Broker randomized', () => {
  for (const seed of [1, 2, 3, 42, 2026]) {
    it(`[MQTT-3.3.4-9] [MQTT-4.4.0-1] loses no acknowledged QoS 1/2 message across random disconnects, reconnects, crashes and link credit (seed ${seed})`, async () => {
      await run(seed)
    })
  }
})
