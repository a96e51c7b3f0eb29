import { seededRandom } from '@fluxmq/testing'
import { afterEach, describe, expect, it } from 'vitest'
import type { Outcome, QueueDelivery } from './delivery.js'
import { Harness, message } from './test-support/harness.js'

const GROUPS = ['g1', 'g2']
const VISIBILITY = 1500
const OUTCOMES: Outcome[] = ['accepted', 'accepted', 'accepted', 'released', 'modified', 'rejected']
const seeds = process.env.TEST_SEED === undefined ? Array.from({ length: 12 }, (_, i) => i + 1) : [Number(process.env.TEST_SEED)]

/** Counted over every seed, so the last test can show that each path of the model ran. */
const exercised = { timeouts: 0, restarts: 0, deadLettered: 0 }

let h: Harness
afterEach(() => h.dispose())

describe('QueueEngine: randomized', () => {
  for (const seed of seeds) {
    // Odd seeds feed consumers from the log only, even ones from memory too.
    const recentBytesPerQueue = seed % 2 === 1 ? 0 : 2048
    it(`keeps credit, single ownership and exactly-one settlement per group (seed ${seed}, recent ${recentBytesPerQueue} bytes)`, () => {
      const rand = seededRandom(seed)
      const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)] as T
      h = new Harness({ queues: [{ name: 'q', maxDeliveries: 3, visibilityTimeoutMs: VISIBILITY }], nackBackoff: { initialMs: 100, maxMs: 400 }, recentBytesPerQueue })
      let appended = 0
      let nextConsumer = 0
      let timeouts = 0
      const granted = new Map<string, number>()
      const delivered = new Map<string, number>()
      const held = new Map<string, { delivery: QueueDelivery; at: number }[]>()
      /** Per group: offsets delivered and not settled or timed out, from the consumers' side. */
      const outstanding = new Map(GROUPS.map((group) => [group, new Set<number>()]))
      /** Per group: offsets acked or dead-lettered. */
      const done = new Map(GROUPS.map((group) => [group, new Set<number>()]))

      h.onDeliver = (delivery) => {
        // Message n is appended at offset n: memory and log must hand out the same message.
        expect(delivery.message.payload.toString(), `payload at offset ${delivery.offset}`).toBe(String(delivery.offset))
        delivered.set(delivery.consumerId, (delivered.get(delivery.consumerId) ?? 0) + 1)
        expect(delivered.get(delivery.consumerId)).toBeLessThanOrEqual(granted.get(delivery.consumerId) ?? 0)
        const group = outstanding.get(delivery.group) as Set<number>
        expect(group.has(delivery.offset), `offset ${delivery.offset} delivered twice at once in ${delivery.group}`).toBe(false)
        expect(done.get(delivery.group)?.has(delivery.offset), `offset ${delivery.offset} delivered after settlement`).toBe(false)
        group.add(delivery.offset)
        held.get(delivery.consumerId)?.push({ delivery, at: h.now })
      }
      const attach = (group: string): string => {
        const id = `c${nextConsumer++}`
        // A new classic group starts at the head of the log: what every earlier group settled may be truncated.
        const stats = h.engine.stats('q')
        if (stats !== undefined && !stats.groups.some((existing) => existing.name === group)) {
          for (let offset = 0; offset < stats.firstOffset; offset++) done.get(group)?.add(offset)
        }
        h.engine.attach({ consumerId: id, queue: 'q', group })
        held.set(id, [])
        granted.set(id, 0)
        return id
      }
      /** The model of the visibility timeout: what consumers held past it returns, or dies at max_deliveries. */
      const timeOut = (): void => {
        for (const mine of held.values()) {
          for (const { delivery } of mine.filter(({ at }) => at + VISIBILITY <= h.now)) {
            mine.splice(mine.findIndex((entry) => entry.delivery === delivery), 1)
            outstanding.get(delivery.group)?.delete(delivery.offset)
            if (delivery.deliveryCount >= 3) done.get(delivery.group)?.add(delivery.offset)
          }
        }
      }

      for (let step = 0; step < 400; step++) {
        const consumers = [...held.keys()]
        const roll = rand()
        if (roll < 0.3) {
          const count = 1 + Math.floor(rand() * 5)
          for (let i = 0; i < count; i++) h.engine.append('q', message('t', String(appended++)))
          if (rand() < 0.7) h.commit()
        } else if (roll < 0.4 || consumers.length === 0) {
          attach(pick(GROUPS))
        } else if (roll < 0.55) {
          const id = pick(consumers)
          const credit = Math.floor(rand() * 4)
          granted.set(id, (granted.get(id) ?? 0) + credit)
          h.engine.grant(id, credit)
        } else if (roll < 0.85) {
          const id = pick(consumers)
          const mine = held.get(id) ?? []
          if (mine.length === 0) continue
          const { delivery } = mine.splice(Math.floor(rand() * mine.length), 1)[0] as { delivery: QueueDelivery }
          const outcome = pick(OUTCOMES)
          outstanding.get(delivery.group)?.delete(delivery.offset)
          const dead = outcome === 'rejected' || (outcome === 'modified' && delivery.deliveryCount >= 3)
          if (dead) exercised.deadLettered += 1
          if (outcome === 'accepted' || dead) {
            expect(done.get(delivery.group)?.has(delivery.offset)).toBe(false)
            done.get(delivery.group)?.add(delivery.offset)
          }
          h.engine.settle(id, delivery.deliveryId, outcome)
        } else if (roll < 0.9) {
          const id = pick(consumers)
          for (const { delivery } of held.get(id) ?? []) outstanding.get(delivery.group)?.delete(delivery.offset)
          h.engine.detach(id, { release: true })
          held.delete(id)
        } else if (roll < 0.99) {
          h.now += Math.floor(rand() * 1000)
          timeOut()
          h.engine.tick()
        } else {
          timeouts += h.engine.stats('q')?.counters.timeouts ?? 0
          exercised.restarts += 1
          h.restart()
          held.clear()
          for (const group of outstanding.values()) group.clear()
        }
      }
      exercised.timeouts += timeouts + (h.engine.stats('q')?.counters.timeouts ?? 0)

      // Drain: one auto-acking consumer per group, time far ahead.
      h.commit()
      for (const id of [...held.keys()]) h.engine.detach(id, { release: true })
      held.clear()
      for (const group of outstanding.values()) group.clear()
      h.onDeliver = (delivery) => {
        expect(delivery.message.payload.toString(), `payload at offset ${delivery.offset}`).toBe(String(delivery.offset))
        expect(done.get(delivery.group)?.has(delivery.offset)).toBe(false)
        done.get(delivery.group)?.add(delivery.offset)
        h.engine.settle(delivery.consumerId, delivery.deliveryId, 'accepted')
      }
      for (const group of GROUPS) {
        const id = `drain-${group}`
        h.engine.attach({ consumerId: id, queue: 'q', group })
        h.engine.grant(id, appended * 10 + 10)
      }
      h.now += 60_000
      h.engine.tick()
      for (const group of GROUPS) {
        expect([...(done.get(group) ?? [])].sort((a, b) => a - b), group).toEqual(Array.from({ length: appended }, (_, i) => i))
      }
    })
  }

  // A single replayed seed need not reach every path; the default set must.
  if (process.env.TEST_SEED === undefined) {
    it('ran timeouts, restarts and dead-lettering across the seeds', () => {
      expect(Object.values(exercised).every((count) => count > 0), JSON.stringify(exercised)).toBe(true)
    })
  }
})
