// The AMQP generator's accounting, through a broker that loses and duplicates on purpose, and the
// addresses each broker is given.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { amqpAddress, runAmqpLoad } from './amqp.mjs'
import { launch } from './brokers.mjs'
import { startFaultyAmqpBroker } from './test-support/faulty-amqp-broker.mjs'

const root = fileURLToPath(new URL('../..', import.meta.url))
// A bounded count per sender: every message is relayed well within the drain bound on a loaded machine.
const PAIRS = { pubs: 3, subs: 3, qos: 1, e2eWindow: 50, count: 1000, topic: 'bench/amqp/{i}', receiver: 'amqp', payload: 64, warmup: 0.1, duration: 0.5, drain: 10, quiet: 2 }
// A generator process per test: its start-up, the run and the drain, on a machine other work may load.
const RUN_MS = 30_000

const cleanups = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()()
})

/** Every message sent was accepted and received once, in order; `end` adds the fields the run's end must have. */
function expectAllRelayed(result, end) {
  expect(result.sent).toBeGreaterThan(0)
  expect(result.accepted).toBe(result.sent)
  expect(result.received_total).toBe(result.sent)
  const counts = { lost: result.lost, duplicates: result.duplicates, out_of_order: result.out_of_order }
  for (const key of Object.keys(end)) counts[key] = result[key]
  expect(counts).toEqual({ lost: 0, duplicates: 0, out_of_order: 0, ...end })
}

async function faulty(options) {
  const broker = await startFaultyAmqpBroker(options)
  cleanups.push(() => broker.close())
  return broker
}

describe('AMQP generator', { timeout: 30_000 }, () => {
  it('counts nothing lost, duplicated or reordered through a broker that forwards everything, and measures latency', async () => {
    const broker = await faulty()
    const result = await runAmqpLoad(root, 'fluxmq', PAIRS, { amqp: broker.port, mqtt: 0 }, 'clean')
    expectAllRelayed(result, { drain_end: 'complete' })
    expect(result.latency_us.count).toBeGreaterThan(0)
    expect(result.ack_rtt_us.count).toBeGreaterThan(0)
  }, RUN_MS)

  it('counts exactly the accepted messages a broker dropped, and the ones it sent twice', async () => {
    const broker = await faulty({ drop: (n) => n % 97 === 5, duplicate: (n) => n % 89 === 3 })
    const result = await runAmqpLoad(root, 'fluxmq', PAIRS, { amqp: broker.port, mqtt: 0 }, 'faulty')
    expect(broker.stats.dropped).toBeGreaterThan(0)
    expect(result.accepted).toBe(broker.stats.published)
    expect(result.lost).toBe(broker.stats.dropped)
    expect(result.duplicates).toBe(broker.stats.duplicated)
  }, RUN_MS)
})

// The generator's own clients (lean-client.mjs, lean-mqtt.mjs) against the real broker, both receiver kinds.
describe('AMQP generator through FluxMQ', { timeout: 60_000 }, () => {
  for (const receiver of ['amqp', 'mqtt']) {
    it(`relays every accepted message to ${receiver} receivers, once and in order`, async () => {
      const workDir = mkdtempSync(join(tmpdir(), 'fluxmq-bench-amqp-'))
      cleanups.push(() => rmSync(workDir, { recursive: true, force: true }))
      const broker = await launch('fluxmq', { root, workDir, storage: 'memory', amqp: true })
      cleanups.push(() => broker.stop())
      const node = broker.nodes[0]
      const result = await runAmqpLoad(root, 'fluxmq', { ...PAIRS, receiver }, { amqp: node.amqpPort, mqtt: node.port }, `fluxmq-${receiver}`)
      expectAllRelayed(result, { errors: [] })
      expect(result.generator_cpu).toBeGreaterThan(0)
    }, 60_000)
  }
})

describe('amqpAddress', () => {
  it('is the MQTT topic on FluxMQ and a routing key on amq.topic on RabbitMQ', () => {
    expect(amqpAddress('fluxmq', 'bench/amqp/3')).toBe('bench/amqp/3')
    expect(amqpAddress('rabbitmq', 'bench/amqp/3')).toBe('/topic/bench.amqp.3')
  })
})
