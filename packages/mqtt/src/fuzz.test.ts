import { encode } from '@fluxmq/mqtt-codec'
import type { Packet } from '@fluxmq/mqtt-codec'
import { randomBytes, runFuzz } from '@fluxmq/testing'
import type { FuzzInput } from '@fluxmq/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MqttClient } from 'mqtt'
import { client, closeClient, startBroker } from './test-support/harness.js'
import type { TestBroker } from './test-support/harness.js'

const SECONDS = Number(process.env['TEST_FUZZ_SECONDS'] ?? 10)
const SEED = Number(process.env['TEST_SEED'] ?? Math.floor(Math.random() * 0x7fffffff))
const WORKERS = 6
const CONNECT_TIMEOUT_MS = 300
/** A connection the server has not closed this long after the client is done with it is a hang. */
const HANG_MS = 5000

function corpus(version: 4 | 5): Buffer[] {
  const v5 = version === 5
  const packets: Packet[] = [
    { cmd: 'publish', topic: 'fuzz/a', payload: Buffer.from('p'), qos: 0, retain: false, dup: false },
    { cmd: 'publish', topic: 'fuzz/b', payload: Buffer.alloc(40, 7), qos: 1, messageId: 3, retain: true, dup: false },
    { cmd: 'publish', topic: 'fuzz/c', payload: Buffer.from('q2'), qos: 2, messageId: 4, retain: false, dup: false, ...(v5 ? { properties: { topicAlias: 2, messageExpiryInterval: 5, userProperties: { a: 'b' }, contentType: 'x', responseTopic: 'r', correlationData: Buffer.from('c') } } : {}) },
    { cmd: 'subscribe', messageId: 5, subscriptions: [{ topic: 'fuzz/#', qos: 2 }, { topic: '$share/g/fuzz/+', qos: 1 }], ...(v5 ? { properties: { subscriptionIdentifier: 9 } } : {}) },
    { cmd: 'unsubscribe', messageId: 6, unsubscriptions: ['fuzz/#'] },
    { cmd: 'puback', messageId: 1 },
    { cmd: 'pubrec', messageId: 2 },
    { cmd: 'pubrel', messageId: 4 },
    { cmd: 'pubcomp', messageId: 2 },
    { cmd: 'pingreq' },
    { cmd: 'disconnect', ...(v5 ? { reasonCode: 4, properties: { sessionExpiryInterval: 0 } } : {}) },
  ]
  if (v5) packets.push({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'm', authenticationData: Buffer.from('d') } })
  return packets.map((p) => encode(p, version))
}

function connectPacket(version: 4 | 5, clientId: string): Buffer {
  return encode(
    {
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: version,
      clientId,
      clean: true,
      keepalive: 0,
      will: { topic: 'fuzz/will', payload: Buffer.from('w'), qos: 1, retain: false },
      ...(version === 5 ? { properties: { topicAliasMaximum: 3, receiveMaximum: 5, sessionExpiryInterval: 1 } } : {}),
    },
    version,
  )
}

/**
 * One fuzz input: optionally a valid CONNECT, then random, mutated or spliced packets. Unconnected
 * sockets must be closed by the connect timeout; connected ones by protocol errors or, failing
 * that, our half-close.
 */
function fuzzInput(random: () => number, id: number): FuzzInput {
  const int = (n: number) => Math.floor(random() * n)
  const version = random() < 0.5 ? 4 : 5
  const parts: Buffer[] = []
  const connected = random() < 0.8
  if (connected) parts.push(connectPacket(version, `fuzz-${id}`))
  const valid = corpus(version)
  const count = 1 + int(12)
  for (let i = 0; i < count; i++) {
    const kind = random()
    if (kind < 0.15) {
      parts.push(randomBytes(random, 1 + int(64)))
    } else {
      const base = Buffer.from(valid[int(valid.length)]!)
      if (kind < 0.5) {
        parts.push(base)
      } else if (kind < 0.8) {
        // Flip a few bytes anywhere, the fixed header included.
        const flips = 1 + int(3)
        for (let f = 0; f < flips; f++) base[int(base.length)] = int(256)
        parts.push(base)
      } else if (kind < 0.9) {
        parts.push(base.subarray(0, int(base.length)))
      } else {
        // Absurd Remaining Length announcements.
        parts.push(Buffer.concat([Buffer.from([base[0]!, 0xff, 0xff, 0xff, random() < 0.5 ? 0x7f : 0xff]), base.subarray(2)]))
      }
    }
  }
  return { bytes: Buffer.concat(parts), endFromClient: connected || random() < 0.5 }
}

describe('fuzz', () => {
  let t: TestBroker
  let good: MqttClient
  let ticker: NodeJS.Timeout

  beforeAll(async () => {
    // Broker state the fuzz legitimately creates is capped (sessions expire within 1 s, short offline
    // queues, few retained messages), so heap growth beyond it points at a leak.
    t = await startBroker(
      { maxPacketSize: 16 * 1024, connectTimeoutMs: CONNECT_TIMEOUT_MS, topicAliasMaximum: 4, receiveMaximum: 8 },
      { defaultExpiry: 1, maxExpiry: 1, maxOfflineMessages: 10, maxRetainedMessages: 100 },
    )
    // The composition root's tick: expires the fuzz clients' sessions as in production.
    ticker = setInterval(() => t.broker.tick(Date.now()), 100)
    good = await client(t.url, { protocolVersion: 5, clientId: 'fuzz-well-behaved-client' })
    await good.subscribeAsync('good/echo', { qos: 1 })
  })

  afterAll(async () => {
    clearInterval(ticker)
    await closeClient(good)
    await t.close()
  })

  /** The well-behaved client publishes to itself and must get it back. */
  async function goodRoundTrip(n: number): Promise<void> {
    const payload = `ping-${n}`
    const got = new Promise<void>((resolve) => {
      const onMessage = (_topic: string, message: Buffer): void => {
        if (message.toString() !== payload) return
        good.off('message', onMessage)
        resolve()
      }
      good.on('message', onMessage)
    })
    await good.publishAsync('good/echo', payload, { qos: 1 })
    await got
  }

  it(
    `random and mutated packets for ${SECONDS}s over real TCP: no crash, no unhandled rejection, no hang, bounded heap, a good client keeps working`,
    async () => {
      await runFuzz({
        port: t.port,
        seconds: SECONDS,
        seed: SEED,
        workers: WORKERS,
        perWorker: 1,
        hangMs: HANG_MS + CONNECT_TIMEOUT_MS,
        slowPeerChance: 0,
        minConnectionsPerSecond: 10,
        input: fuzzInput,
        roundTrip: goodRoundTrip,
        connections: () => t.server.connectionCount,
        logger: t.logger,
        broker: t.broker,
      })
      expect(good.connected).toBe(true)
    },
    SECONDS * 1000 + 30_000,
  )
})
