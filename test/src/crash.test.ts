import { afterEach, describe, expect, it } from 'vitest'
import { reconnectClient, setArgs, withTimeout } from '@fluxmq/testing'
import type { MessageCollector, OpenedClient, StartedFluxmq } from '@fluxmq/testing'
import { UniqueMessageIdProvider } from 'mqtt'
import type { IClientOptions, MqttClient } from 'mqtt'
import { Scene } from './support/fluxmq.js'
import { crashSeeds, seededRandom } from './support/random.js'

// Issue 3: with storage.type sqlite, a SIGKILL at any moment loses nothing the broker acknowledged.
const STREAM = 400 // numbered messages, alternating <prefix>/q1 (QoS 1) and <prefix>/q2 (QoS 2)
const WINDOW = 32 // publishes in flight at once
const WILL_DELAY_S = 6
const SEEDS = crashSeeds(3)

let scene = new Scene()
afterEach(async () => {
  await scene.cleanup.run()
  scene = new Scene()
})

const persistent = (clientId: string): IClientOptions => ({ clientId, protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3600 } })
const qosOf = (n: number) => (n % 2 === 0 ? 1 : 2) as 1 | 2

/** Broker on `dir`; `port` pins the TCP listener to the port an earlier run was given (a restart at the same address). */
async function startOn(dir: string, port?: number): Promise<StartedFluxmq> {
  return scene.broker(
    setArgs({ 'storage.type': 'sqlite', 'storage.dir': dir, 'storage.sync': 'normal', ...(port === undefined ? {} : { 'server.mqtt.tcp.addr': `127.0.0.1:${port}` }) }),
  )
}

interface Stream {
  /** Numbers whose PUBACK (QoS 1) or PUBCOMP (QoS 2) arrived. */
  readonly acked: Set<number>
  /** Numbers whose publish failed, with mqtt.js's error (e.g. a PUBCOMP with a failure reason code). */
  readonly failed: Map<number, string>
  /** Resolves once every number was published and acknowledged. */
  readonly complete: Promise<void>
}

/**
 * Publishes 0..STREAM-1 to `<prefix>/q1` (even, QoS 1) and `<prefix>/q2` (odd, QoS 2) with WINDOW
 * publishes in flight, and calls `kill` from the callback of the `killAfter`-th acknowledgement (0: never).
 * `resume`: keep publishing after the kill (a persistent client queues them until it reconnects).
 */
function publishStream(publisher: MqttClient, prefix: string, killAfter: number, kill: () => void, resume: boolean): Stream {
  const acked = new Set<number>()
  const failed = new Map<number, string>()
  let next = 0
  let settled = 0
  let killed = false
  let finish: () => void = () => undefined
  const complete = new Promise<void>((resolve) => (finish = resolve))
  const pump = (): void => {
    while (next < STREAM && next - settled < WINDOW && (resume || !killed)) {
      const n = next++
      publisher.publishAsync(`${prefix}/${qosOf(n) === 1 ? 'q1' : 'q2'}`, String(n), { qos: qosOf(n) }).then(
        () => {
          settled++
          acked.add(n)
          if (acked.size === killAfter) {
            killed = true
            kill()
          }
          if (acked.size === STREAM) finish()
          pump()
        },
        (err: unknown) => {
          settled++
          failed.set(n, err instanceof Error ? err.message : String(err))
        },
      )
    }
  }
  pump()
  return { acked, failed, complete }
}

const closedOf = (client: MqttClient) => new Promise<void>((resolve) => client.once('close', () => resolve()))
const numbers = (texts: string[]) => texts.filter((text) => text !== 'fence').map(Number)
const missing = (want: number[], got: number[]) => want.filter((n) => !got.includes(n))
const duplicates = (got: number[]) => got.filter((n, i) => got.indexOf(n) !== i)
const sorted = (values: Iterable<number>) => [...values].sort((a, b) => a - b)

/** Each delivery of the duplicated numbers as `n: packet id, DUP flag` (which side resent it). */
function duplicateDeliveries(inbox: MessageCollector, got: number[]): string {
  const twice = new Set(duplicates(got))
  return inbox.messages
    .filter((message) => twice.has(Number(message.payload.toString())))
    .map((message) => `${message.payload.toString()}: id ${message.packet.messageId ?? '-'}, dup ${message.packet.dup ? 1 : 0}`)
    .join('; ')
}

/** A live message after everything queued: proves the subscription and fences late duplicates. */
async function fence(fluxmq: StartedFluxmq, prefix: string, q1: OpenedClient, q2: OpenedClient): Promise<void> {
  const { client } = await scene.client(fluxmq.mqttUrl, { clientId: `${prefix}-fence`, protocolVersion: 5 })
  await client.publishAsync(`${prefix}/q1`, 'fence', { qos: 1 })
  await client.publishAsync(`${prefix}/q2`, 'fence', { qos: 2 })
  await q1.inbox.waitFor((message) => message.payload.toString() === 'fence')
  await q2.inbox.waitFor((message) => message.payload.toString() === 'fence')
}

type Trigger = 'acknowledgement' | 'PUBREL' | 'PUBCOMP'
const TRIGGERS: Record<Trigger, (killAfter: number) => string> = {
  acknowledgement: (k) => `the publisher's acknowledgement ${k}`,
  PUBREL: (k) => `the QoS 2 subscriber's PUBREL ${Math.ceil(k / 2)}`,
  PUBCOMP: (k) => `the publisher's PUBCOMP ${Math.ceil(k / 2)}`,
}

/**
 * Subscribers and a persistent publisher stay connected; SIGKILL comes at the publisher's
 * `killAfter`-th acknowledgement, or the moment the QoS 2 subscriber gets its (killAfter/2)-th
 * PUBREL, or the publisher its (killAfter/2)-th PUBCOMP. The broker restarts on the same port and
 * the same clients resume.
 */
async function connectedRun(seed: number, killAfter: number, trigger: Trigger): Promise<void> {
  const dir = scene.tempDir()
  let fluxmq = await startOn(dir)
  const port = fluxmq.process.port('mqtt-tcp')

  const q1 = await scene.client(fluxmq.mqttUrl, persistent('live-q1'))
  await q1.client.subscribeAsync('live/q1', { qos: 1 })
  const q2 = await scene.client(fluxmq.mqttUrl, persistent('live-q2'))
  await q2.client.subscribeAsync('live/q2', { qos: 2 })
  // The lowest free packet id each time, as many clients do: ids are reused within the stream, so
  // an id the broker still remembers from before the crash would swallow a new message.
  const publisher = await scene.client(fluxmq.mqttUrl, { ...persistent('live-pub'), messageIdProvider: new UniqueMessageIdProvider() })
  const clients = [q1, q2, publisher]
  const allClosed = Promise.all(clients.map(({ client }) => closedOf(client)))

  // Handshakes of both directions are mid-flight at the kill: inbound QoS 2 ids between PUBREC
  // and PUBREL, outbound deliveries between PUBLISH and PUBACK/PUBREC/PUBCOMP.
  const kill = () => fluxmq.process.signal('SIGKILL')
  // PUBREL to the subscriber: the broker took its PUBREC, the 'release' state must be durable now.
  // PUBCOMP to the publisher: the broker forgot the packet id, which the publisher may reuse at once.
  const [watched, command] = trigger === 'PUBREL' ? [q2.client, 'pubrel'] : [publisher.client, 'pubcomp']
  let seen = 0
  if (trigger !== 'acknowledgement') {
    watched.on('packetreceive', (packet) => {
      if (packet.cmd === command && ++seen === Math.ceil(killAfter / 2)) kill()
    })
  }
  const stream = publishStream(publisher.client, 'live', trigger === 'acknowledgement' ? killAfter : 0, kill, true)
  expect(await withTimeout(fluxmq.process.exited, 30_000, `seed ${seed}: the kill`)).toBe('SIGKILL')
  await allClosed
  const ackedAtCrash = stream.acked.size

  // The same address again, as a restarted broker has; the clients resume their sessions and
  // send again what they had not seen acknowledged (PUBLISH with DUP, PUBREL).
  fluxmq = await startOn(dir, port)
  for (const { client } of clients) expect((await reconnectClient(client)).sessionPresent, `seed ${seed}`).toBe(true)
  const failures = () => [...stream.failed].map(([n, error]) => `${n}: ${error}`).join('; ')
  await withTimeout(stream.complete, 30_000, () => `seed ${seed}: all ${STREAM} acknowledged (have ${stream.acked.size}; failed: ${failures() || 'none'})`)
  await fence(fluxmq, 'live', q1, q2)

  const gotQ1 = numbers(q1.inbox.texts)
  const gotQ2 = numbers(q2.inbox.texts)
  const all = Array.from({ length: STREAM }, (_, n) => n)
  console.log(`seed ${seed}: ${ackedAtCrash} acked before the kill; delivered ${gotQ1.length} QoS 1 (${duplicates(gotQ1).length} again) / ${gotQ2.length} QoS 2`)
  expect(missing(all.filter((n) => qosOf(n) === 1), gotQ1), `seed ${seed}: QoS 1 messages lost`).toEqual([])
  expect(missing(all.filter((n) => qosOf(n) === 2), gotQ2), `seed ${seed}: QoS 2 messages lost`).toEqual([])
  expect(duplicates(gotQ2), `seed ${seed}: QoS 2 duplicates (${duplicateDeliveries(q2.inbox, gotQ2)})`).toEqual([])
  expect(gotQ2.length, `seed ${seed}`).toBe(STREAM / 2)
  expect(gotQ1.every((n) => qosOf(n) === 1), `seed ${seed}`).toBe(true)
}

describe('crash safety with storage.type sqlite (SIGKILL at random points)', () => {
  console.log(`crash seeds: ${SEEDS.join(',')} (replay with TEST_CRASH_SEEDS=${SEEDS.join(',')})`)

  SEEDS.forEach((seed, index) => {
    const killAfter = 20 + Math.floor(seededRandom(seed)() * (STREAM * 0.75 - 20))

    it(`offline subscribers, kill point ${index + 1}/${SEEDS.length}: every acknowledged QoS 1 message arrives at least once, every QoS 2 one exactly once [MQTT-4.3.3]; subscriptions, retained and a pending will survive`, async () => {
      console.log(`seed ${seed}: offline subscribers, SIGKILL after acknowledgement ${killAfter} of ${STREAM}`)
      const dir = scene.tempDir()
      let fluxmq = await startOn(dir)

      for (const [clientId, topic, qos] of [['crash-q1', 'crash/q1', 1], ['crash-q2', 'crash/q2', 2]] as const) {
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

      const publisherClosed = closedOf(publisher.client)
      const { acked } = publishStream(publisher.client, 'crash', killAfter, () => fluxmq.process.signal('SIGKILL'), false)
      expect(await withTimeout(fluxmq.process.exited, 30_000, `seed ${seed}: the kill`)).toBe('SIGKILL')
      // Acknowledgements already in the publisher's socket still count: the broker sent them.
      await publisherClosed
      const ackedAtCrash = sorted(acked)
      expect(Date.now() - droppedAt, `seed ${seed}: the kill must come while the will is pending`).toBeLessThan(WILL_DELAY_S * 1000 - 500)
      expect(watcher.inbox.messages, `seed ${seed}: no will before the crash`).toEqual([])
      expect(ackedAtCrash.length, `seed ${seed}`).toBeGreaterThanOrEqual(killAfter)

      fluxmq = await startOn(dir)
      const q1 = await scene.client(fluxmq.mqttUrl, persistent('crash-q1'))
      const q2 = await scene.client(fluxmq.mqttUrl, persistent('crash-q2'))
      expect([q1.connack.sessionPresent, q2.connack.sessionPresent], `seed ${seed}`).toEqual([true, true])
      // No SUBSCRIBE after the restart: the fence arriving proves the stored subscriptions.
      await fence(fluxmq, 'crash', q1, q2)

      const gotQ1 = numbers(q1.inbox.texts)
      const gotQ2 = numbers(q2.inbox.texts)
      const ackedQ1 = ackedAtCrash.filter((n) => qosOf(n) === 1)
      const ackedQ2 = ackedAtCrash.filter((n) => qosOf(n) === 2)
      console.log(`seed ${seed}: acked ${ackedQ1.length} QoS 1 / ${ackedQ2.length} QoS 2 before the kill; delivered ${gotQ1.length} / ${gotQ2.length}`)
      expect(missing(ackedQ1, gotQ1), `seed ${seed}: acknowledged QoS 1 messages lost`).toEqual([])
      expect(missing(ackedQ2, gotQ2), `seed ${seed}: acknowledged QoS 2 messages lost`).toEqual([])
      expect(duplicates(gotQ2), `seed ${seed}: QoS 2 duplicates (${duplicateDeliveries(q2.inbox, gotQ2)})`).toEqual([])
      // Only numbers that were really published, each on its own topic, in publish order per session.
      expect(gotQ1.every((n) => qosOf(n) === 1 && n < STREAM), `seed ${seed}`).toBe(true)
      expect(gotQ2.every((n) => qosOf(n) === 2 && n < STREAM), `seed ${seed}`).toBe(true)
      expect(gotQ2, `seed ${seed}: QoS 2 order`).toEqual(sorted(gotQ2))

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
      expect(back.inbox.messages.filter((message) => message.topic === 'will/crash-doomed')).toHaveLength(1)
    })

    for (const trigger of Object.keys(TRIGGERS) as Trigger[]) {
      const at = TRIGGERS[trigger](killAfter)
      it(`connected subscribers and a persistent publisher, kill point ${index + 1}/${SEEDS.length} at ${at.replace(/ \d+$/, '')}: after the restart every handshake completes, all ${STREAM} messages are acknowledged, QoS 1 delivered at least once and QoS 2 exactly once [MQTT-4.3.3] [MQTT-4.4.0-1]`, async () => {
        console.log(`seed ${seed}: live clients, SIGKILL at ${at}`)
        await connectedRun(seed, killAfter, trigger)
      })
    }
  })
})
