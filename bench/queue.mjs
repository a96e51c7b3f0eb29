#!/usr/bin/env node
// node bench/queue.mjs [--duration S] (after pnpm build): issue 11's queue scenario on SQLite —
// 10 publishers at QoS 1 into one queue, one group of 4 consumers in manual ack mode — beside the
// persistent-session QoS 1 path (10 publishers → 10 persistent subscribers) in the same run, on
// the same broker build. Both sides are driven by mqtt.js from this one process, pinned to the
// generator CPU (the broker to the other): the figures are comparable with each other, not with
// the C load generator's table of run.mjs.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import mqtt from 'mqtt'
import { launch } from './lib/brokers.mjs'
import { cpus, pinned } from './lib/process.mjs'

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..')
const PUBLISHERS = 10
const CONSUMERS = 4
const WINDOW = 64
const PAYLOAD = 64

const { values } = parseArgs({
  options: { duration: { type: 'string', default: '8' }, pinned: { type: 'boolean', default: false }, profile: { type: 'string' } },
})
const duration = Number(values.duration)
if (!(duration > 0)) throw new Error('--duration must be a positive number of seconds')

// The generator runs pinned like run.mjs's: this script starts itself again under taskset.
if (!values.pinned && cpus.loadgen !== null) {
  const profile = values.profile === undefined ? [] : ['--profile', values.profile]
  const argv = pinned(cpus.loadgen, [process.execPath, fileURLToPath(import.meta.url), '--pinned', '--duration', String(duration), ...profile])
  process.exit(spawnSync(argv[0], argv.slice(1), { stdio: 'inherit' }).status ?? 1)
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function p99(samples) {
  if (samples.length === 0) return NaN
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]
}

function connect(port, options) {
  return mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, reconnectPeriod: 0, ...options })
}

/** A payload stamped with its send time (this process's clock), so consumers measure end to end. */
function stamped() {
  const payload = Buffer.alloc(PAYLOAD)
  payload.writeDoubleLE(performance.now(), 0)
  return payload
}

/** Each publisher keeps WINDOW QoS 1 publishes in flight on its topic until the deadline; resolves with the PUBACK count. */
async function publishFor(clients, topicOf, deadline) {
  let acked = 0
  await Promise.all(
    clients.map(async (client, i) => {
      const inflight = new Set()
      while (performance.now() < deadline) {
        const p = client.publishAsync(topicOf(i), stamped(), { qos: 1 }).then(() => {
          acked++
          inflight.delete(p)
        })
        inflight.add(p)
        if (inflight.size >= WINDOW) await Promise.race(inflight)
      }
      await Promise.all(inflight)
    }),
  )
  return acked
}

async function queueScenario(port, measure) {
  const latencies = []
  let settled = 0
  const consumers = await Promise.all(Array.from({ length: CONSUMERS }, (_, i) => connect(port, { clientId: `q-consumer-${i}` })))
  for (const consumer of consumers) {
    consumer.on('message', (_topic, payload, packet) => {
      latencies.push(performance.now() - payload.readDoubleLE(0))
      const userProperties = { 'message-id': packet.properties.userProperties['message-id'], 'group-id': 'bench' }
      consumer.publishAsync('$queue/bench/$ack', '', { qos: 1, properties: { userProperties } }).then(() => settled++)
    })
    await consumer.subscribeAsync('$queue/bench', { qos: 1, properties: { userProperties: { 'consumer-group': 'bench', 'ack-mode': 'manual' } } })
  }
  const publishers = await Promise.all(Array.from({ length: PUBLISHERS }, (_, i) => connect(port, { clientId: `q-publisher-${i}` })))
  const start = performance.now()
  const cpu = measure()
  const appended = await publishFor(publishers, () => '$queue/bench', start + duration * 1000)
  const seconds = (performance.now() - start) / 1000
  const settledInTime = settled
  const busy = cpu(seconds)
  await Promise.all([...consumers, ...publishers].map((client) => client.endAsync()))
  return { appendedPerSec: appended / seconds, deliveredAckedPerSec: settledInTime / seconds, p99Ms: p99(latencies), ...busy }
}

async function persistentScenario(port, measure) {
  const latencies = []
  const subscribers = await Promise.all(
    Array.from({ length: PUBLISHERS }, (_, i) => connect(port, { clientId: `ps-sub-${i}`, clean: false, properties: { sessionExpiryInterval: 3600 } })),
  )
  let delivered = 0
  for (const [i, subscriber] of subscribers.entries()) {
    subscriber.on('message', (_topic, payload) => {
      latencies.push(performance.now() - payload.readDoubleLE(0))
      delivered++
    })
    await subscriber.subscribeAsync(`bench/ps/${i}`, { qos: 1 })
  }
  const publishers = await Promise.all(Array.from({ length: PUBLISHERS }, (_, i) => connect(port, { clientId: `ps-publisher-${i}` })))
  const start = performance.now()
  const cpu = measure()
  const acked = await publishFor(publishers, (i) => `bench/ps/${i}`, start + duration * 1000)
  const seconds = (performance.now() - start) / 1000
  const deliveredInTime = delivered
  const busy = cpu(seconds)
  await Promise.all([...subscribers, ...publishers].map((client) => client.endAsync()))
  return { appendedPerSec: acked / seconds, deliveredAckedPerSec: deliveredInTime / seconds, p99Ms: p99(latencies), ...busy }
}

/** `--profile DIR`: each broker writes DIR/<scenario>.cpuprofile (node --cpu-prof), for bench/profile-top.mjs. */
async function onFreshBroker(run) {
  const workDir = mkdtempSync(join(tmpdir(), 'fluxmq-queue-bench-'))
  const profile = values.profile === undefined ? {} : { profileDir: values.profile, profileName: run.name }
  const broker = await launch('fluxmq', { root, workDir, storage: 'sqlite', ...profile })
  try {
    // CPU of the broker and of this generator over the measured interval, in % of one core: which side was the limit.
    const measure = () => {
      const generator = process.cpuUsage()
      const brokerSeconds = broker.cpuSeconds()
      return (seconds) => {
        const { user, system } = process.cpuUsage(generator)
        return { brokerCpu: (100 * (broker.cpuSeconds() - brokerSeconds)) / seconds, generatorCpu: (100 * (user + system)) / 1e6 / seconds }
      }
    }
    return await run(broker.nodes[0].port, measure)
  } finally {
    const failed = await broker.stop()
    rmSync(workDir, { recursive: true, force: true })
    if (failed.length > 0) console.error(`broker did not exit cleanly: ${JSON.stringify(failed)}`)
  }
}

const persistent = await onFreshBroker(persistentScenario)
await sleep(500)
const queue = await onFreshBroker(queueScenario)
const row = (name, r) =>
  `| ${name} | ${Math.round(r.appendedPerSec)} | ${Math.round(r.deliveredAckedPerSec)} | ${r.p99Ms.toFixed(1)} | ${Math.round(r.brokerCpu)} % | ${Math.round(r.generatorCpu)} % |`
console.log(`SQLite, ${duration} s each, ${PUBLISHERS} publishers × ${WINDOW} in flight, ${PAYLOAD} B payloads, mqtt.js generator\n`)
console.log('| path | PUBACKed/s | delivered (+acked) /s | p99 end-to-end ms | broker CPU | generator CPU |')
console.log('|---|---|---|---|---|---|')
console.log(row('persistent sessions QoS 1, 10 → 10', persistent))
console.log(row(`queue, 10 → 1 group of ${CONSUMERS} (manual $ack)`, queue))
const ratio = queue.deliveredAckedPerSec / persistent.deliveredAckedPerSec
console.log(`\nqueue / persistent (delivered): ${ratio.toFixed(2)}x — target ≥ 0.5x: ${ratio >= 0.5 ? 'PASS' : 'FAIL'}`)
