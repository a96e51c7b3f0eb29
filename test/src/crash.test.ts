import { afterEach, describe, expect, it } from 'vitest'
import { setArgs } from '@fluxmq/testing'
import type { OpenedClient, StartedFluxmq } from '@fluxmq/testing'
import type { IClientOptions } from 'mqtt'
import { Scene } from './support/fluxmq.js'
import { crashSeeds, seededRandom } from './support/random.js'

// Issue 3: with storage.type sqlite, a SIGKILL at any moment loses nothing the broker acknowledged.
const STREAM = 400 // messages, alternating stream/q1 (QoS 1) and stream/q2 (QoS 2)
const WINDOW = 32 // publishes in flight at once
const WILL_DELAY_S = 4
const SEEDS = crashSeeds(3)

let scene = new Scene()
afterEach(async () => {
  await scene.cleanup.run()
  scene = new Scene()
})

const persistent = (clientId: string): IClientOptions => ({ clientId, protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3600 } })
const topicOf = (n: number) => (n % 2 === 0 ? 'stream/q1' : 'stream/q2')
const qosOf = (n: number) => (n % 2 === 0 ? 1 : 2) as 1 | 2

async function startOn(dir: string): Promise<StartedFluxmq> {
  return scene.broker(setArgs({ 'storage.type': 'sqlite', 'storage.dir': dir, 'storage.sync': 'normal' }))
}

/**
 * Publishes the numbered stream with WINDOW publishes in flight and SIGKILLs the broker from the
 * callback of the `killAfter`-th acknowledgement. Resolves once the publisher's connection is gone,
 * with every number whose PUBACK (QoS 1) or PUBCOMP (QoS 2) arrived.
 */
async function streamUntilKilled(publisher: OpenedClient, fluxmq: StartedFluxmq, killAfter: number): Promise<Set<number>> {
  const acked = new Set<number>()
  const closed = new Promise<void>((resolve) => publisher.client.once('close', () => resolve()))
  let next = 0
  let settled = 0
  const pump = (): void => {
    while (next < STREAM && next - settled < WINDOW && fluxmq.process.running) {
      const n = next++
      publisher.client.publishAsync(topicOf(n), String(n), { qos: qosOf(n) }).then(
        () => {
          settled++
          acked.add(n)
          if (acked.size === killAfter) fluxmq.process.signal('SIGKILL')
          pump()
        },
        () => settled++,
      )
    }
  }
  pump()
  await closed
  expect(await fluxmq.process.exited).toBe('SIGKILL')
  return acked
}

describe('crash safety with storage.type sqlite (SIGKILL at random points)', () => {
  console.log(`crash seeds: ${SEEDS.join(',')} (replay with FLUXMQ_CRASH_SEEDS=${SEEDS.join(',')})`)

  SEEDS.forEach((seed, index) => {
    it(`kill point ${index + 1}/${SEEDS.length}: every acknowledged QoS 1 message arrives at least once, every QoS 2 one exactly once [MQTT-4.3.3]; subscriptions, retained and a pending will survive`, async () => {
      const random = seededRandom(seed)
      const killAfter = 20 + Math.floor(random() * (STREAM * 0.75 - 20))
      console.log(`seed ${seed}: SIGKILL after acknowledgement ${killAfter} of ${STREAM}`)
      const dir = scene.tempDir()
      let fluxmq = await startOn(dir)

      for (const [clientId, topic, qos] of [['crash-q1', 'stream/q1', 1], ['crash-q2', 'stream/q2', 2]] as const) {
        const subscriber = await scene.client(fluxmq.mqttUrl, persistent(clientId))
        await subscriber.client.subscribeAsync(topic, { qos })
        await subscriber.client.endAsync(false)
      }
      const watcher = await scene.client(fluxmq.mqttUrl, persistent('crash-watcher'))
      await watcher.client.subscribeAsync('will/#', { qos: 1 })
      const publisher = await scene.client(fluxmq.mqttUrl, { clientId: 'crash-pub', protocolVersion: 5 })
      await publisher.client.publishAsync('state/config', 'v1', { qos: 1, retain: true })

      // A will with a delay, still pending when the broker dies: its client's connection is lost.
      const doomed = await scene.client(fluxmq.mqttUrl, {
        ...persistent('crash-doomed'),
        will: { topic: 'will/crash-doomed', payload: Buffer.from('doomed is gone'), qos: 1, retain: false, properties: { willDelayInterval: WILL_DELAY_S } },
      })
      doomed.client.stream.destroy()
      const droppedAt = Date.now()

      const acked = await streamUntilKilled(publisher, fluxmq, killAfter)
      const killedAt = Date.now()
      expect(killedAt - droppedAt, `seed ${seed}: the kill must come while the will is pending`).toBeLessThan(WILL_DELAY_S * 1000 - 500)
      expect(watcher.inbox.messages, `seed ${seed}: no will before the crash`).toEqual([])
      expect(acked.size, `seed ${seed}`).toBeGreaterThanOrEqual(killAfter)

      fluxmq = await startOn(dir)
      const q1 = await scene.client(fluxmq.mqttUrl, persistent('crash-q1'))
      const q2 = await scene.client(fluxmq.mqttUrl, persistent('crash-q2'))
      expect([q1.connack.sessionPresent, q2.connack.sessionPresent], `seed ${seed}`).toEqual([true, true])

      // Subscriptions survived if this live message reaches both without a new SUBSCRIBE; it comes
      // after everything the sessions had queued, so it also fences late duplicates.
      const { client: after } = await scene.client(fluxmq.mqttUrl, { clientId: 'crash-pub-2', protocolVersion: 5 })
      await after.publishAsync('stream/q1', 'fence', { qos: 1 })
      await after.publishAsync('stream/q2', 'fence', { qos: 2 })
      await q1.inbox.waitFor((message) => message.payload.toString() === 'fence')
      await q2.inbox.waitFor((message) => message.payload.toString() === 'fence')

      const numbers = (texts: string[]) => texts.filter((text) => text !== 'fence').map(Number)
      const gotQ1 = numbers(q1.inbox.texts)
      const gotQ2 = numbers(q2.inbox.texts)
      const ackedQ1 = [...acked].filter((n) => qosOf(n) === 1).sort((a, b) => a - b)
      const ackedQ2 = [...acked].filter((n) => qosOf(n) === 2).sort((a, b) => a - b)
      const missing = (want: number[], got: number[]) => want.filter((n) => !got.includes(n))
      console.log(`seed ${seed}: acked ${ackedQ1.length} QoS 1 / ${ackedQ2.length} QoS 2; delivered ${gotQ1.length} / ${gotQ2.length}`)
      expect(missing(ackedQ1, gotQ1), `seed ${seed}: acknowledged QoS 1 messages lost`).toEqual([])
      expect(missing(ackedQ2, gotQ2), `seed ${seed}: acknowledged QoS 2 messages lost`).toEqual([])
      expect(gotQ2.length - new Set(gotQ2).size, `seed ${seed}: QoS 2 duplicates`).toBe(0)
      // Only numbers that were really published, each on its own topic, in publish order per session.
      expect(gotQ1.every((n) => qosOf(n) === 1 && n < STREAM), `seed ${seed}`).toBe(true)
      expect(gotQ2.every((n) => qosOf(n) === 2 && n < STREAM), `seed ${seed}`).toBe(true)
      expect(gotQ2, `seed ${seed}: QoS 2 order`).toEqual([...gotQ2].sort((a, b) => a - b))

      const reader = await scene.client(fluxmq.mqttUrl, { clientId: 'crash-reader', protocolVersion: 5 })
      await reader.client.subscribeAsync('state/#', { qos: 1 })
      const retained = await reader.inbox.waitFor((message) => message.topic === 'state/config')
      expect([retained.payload.toString(), retained.packet.retain]).toEqual(['v1', true])

      // The will was pending at the crash: after the restart it is published once its delay is over.
      const back = await scene.client(fluxmq.mqttUrl, persistent('crash-watcher'))
      expect(back.connack.sessionPresent).toBe(true)
      const will = await back.inbox.waitFor((message) => message.topic === 'will/crash-doomed', (WILL_DELAY_S + 5) * 1000)
      expect(will.payload.toString()).toBe('doomed is gone')
      expect(Date.now() - droppedAt, `seed ${seed}: will published before its delay`).toBeGreaterThanOrEqual(WILL_DELAY_S * 1000 - 100)
    })
  })
})
