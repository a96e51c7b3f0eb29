#!/usr/bin/env node
// node bench/queue.mjs [--duration S] [--repetitions N] [--json FILE] [--root DIR] (after pnpm build): issue
// 11's queue scenario on SQLite — 10 publishers at QoS 1 into one queue, one group of 4
// consumers in manual ack mode — beside the persistent-session QoS 1 path (10 publishers → 10
// persistent subscribers) in the same run, on the same broker build, then a SIGKILL of the
// broker in the middle of the queue scenario after which no PUBACKed message may be missing.
// Both sides are driven from this one process by lib/lean-client.mjs, pinned to the generator
// CPU (the broker to the other): the figures are comparable with each other, not with the C
// load generator's table of run.mjs. `pnpm bench` runs it and adds its table to its own.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { fluxmqArgs, launch } from './lib/brokers.mjs'
import { LeanClient, userPropertyBytes } from './lib/lean-client.mjs'
import { cpus, freePort, pinned, startChild, waitForPort } from './lib/process.mjs'

const PUBLISHERS = 10
const CONSUMERS = 4
const WINDOW = 64
const PAYLOAD = 64
const GROUP = 'bench'
const EMPTY = Buffer.alloc(0)
/** The queue scenario's target (issue 11): delivered+acked/s at least this share of the persistent path's delivered/s. */
export const TARGET_RATIO = 0.5

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '8' },
    repetitions: { type: 'string', default: '3' },
    json: { type: 'string' },
    pinned: { type: 'boolean', default: false },
    profile: { type: 'string' },
    set: { type: 'string', multiple: true, default: [] },
    'ack-qos': { type: 'string', default: '1' },
    root: { type: 'string' },
  },
})
// `--root DIR`: the FluxMQ build to run, another checkout's for an A/B of two commits.
const root = values.root ?? join(fileURLToPath(new URL('.', import.meta.url)), '..')
const duration = Number(values.duration)
const repetitions = Number(values.repetitions)
if (!(duration > 0) || !(repetitions >= 1)) throw new Error('--duration and --repetitions must be positive numbers')
// `--ack-qos 0`: fire-and-forget `$ack`s (AMQP receivers settle so by default), no PUBACK per ack
// for either side to handle. Not the scenario's definition (QoS 1), a second view of its cost.
const ackQos = Number(values['ack-qos'])
if (ackQos !== 0 && ackQos !== 1) throw new Error('--ack-qos must be 0 or 1')

// The generator runs pinned like run.mjs's: this script starts itself again under taskset.
if (!values.pinned && cpus.loadgen !== null) {
  const passed = process.argv.slice(2)
  const argv = pinned(cpus.loadgen, [process.execPath, fileURLToPath(import.meta.url), '--pinned', ...passed])
  process.exit(spawnSync(argv[0], argv.slice(1), { stdio: 'inherit' }).status ?? 1)
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function p99(samples) {
  if (samples.length === 0) return NaN
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]
}

/** A payload stamped with its send time (this process's clock), so consumers measure end to end. */
function stamped() {
  const payload = Buffer.alloc(PAYLOAD)
  payload.writeDoubleLE(performance.now(), 0)
  return payload
}

/**
 * Each publisher keeps WINDOW QoS 1 publishes in flight on its topic until `done()`; `payloadOf`
 * makes each payload, `onAcked` hears each PUBACK. A publish the broker never acknowledged (it
 * was killed) counts as not sent. Resolves once every publisher has nothing in flight.
 */
function publishUntil(clients, topicOf, done, payloadOf = stamped, onAcked = () => undefined) {
  return Promise.all(
    clients.map(
      (client, i) =>
        new Promise((resolve) => {
          const topic = topicOf(i)
          let inflight = 0
          const fill = () => {
            while (inflight < WINDOW && !done() && client.connected) {
              const payload = payloadOf(i)
              inflight++
              client.publish(topic, payload, (ok) => {
                inflight--
                if (ok) onAcked(payload)
                fill()
              })
            }
            if (inflight === 0) resolve()
          }
          fill()
        }),
    ),
  )
}

/** Manual-ack consumers of the bench group: `onMessage(payload)` per delivery, then an `$ack` (QoS 1 unless `--ack-qos 0`). */
async function queueConsumers(port, onMessage) {
  const consumers = await Promise.all(Array.from({ length: CONSUMERS }, (_, i) => LeanClient.connect(port, { clientId: `q-consumer-${i}` })))
  const acked = () => undefined
  for (const consumer of consumers) {
    consumer.onMessage = (_topic, payload, userProperty) => {
      onMessage(payload)
      const properties = userPropertyBytes([
        ['message-id', userProperty('message-id')],
        ['group-id', GROUP],
      ])
      consumer.publish('$queue/bench/$ack', EMPTY, acked, properties, ackQos)
    }
    const reason = await consumer.subscribe('$queue/bench', [
      ['consumer-group', GROUP],
      ['ack-mode', 'manual'],
    ])
    if (reason >= 0x80) throw new Error(`queue subscription refused: 0x${reason.toString(16)}`)
  }
  return consumers
}

async function queueScenario(port, measure) {
  const latencies = []
  let settled = 0
  const consumers = await queueConsumers(port, (payload) => {
    latencies.push(performance.now() - payload.readDoubleLE(0))
    settled++
  })
  const publishers = await Promise.all(Array.from({ length: PUBLISHERS }, (_, i) => LeanClient.connect(port, { clientId: `q-publisher-${i}` })))
  let appended = 0
  const start = performance.now()
  const cpu = measure()
  await publishUntil(publishers, () => '$queue/bench', () => performance.now() >= start + duration * 1000, stamped, () => appended++)
  const seconds = (performance.now() - start) / 1000
  const settledInTime = settled
  const busy = cpu(seconds)
  await Promise.all([...consumers, ...publishers].map((client) => client.end()))
  return { appendedPerSec: appended / seconds, deliveredPerSec: settledInTime / seconds, p99Ms: p99(latencies), ...busy }
}

async function persistentScenario(port, measure) {
  const latencies = []
  const subscribers = await Promise.all(
    Array.from({ length: PUBLISHERS }, (_, i) => LeanClient.connect(port, { clientId: `ps-sub-${i}`, sessionExpiry: 3600 })),
  )
  let delivered = 0
  for (const [i, subscriber] of subscribers.entries()) {
    subscriber.onMessage = (_topic, payload) => {
      latencies.push(performance.now() - payload.readDoubleLE(0))
      delivered++
    }
    await subscriber.subscribe(`bench/ps/${i}`)
  }
  const publishers = await Promise.all(Array.from({ length: PUBLISHERS }, (_, i) => LeanClient.connect(port, { clientId: `ps-publisher-${i}` })))
  let acked = 0
  const start = performance.now()
  const cpu = measure()
  await publishUntil(publishers, (i) => `bench/ps/${i}`, () => performance.now() >= start + duration * 1000, stamped, () => acked++)
  const seconds = (performance.now() - start) / 1000
  const deliveredInTime = delivered
  const busy = cpu(seconds)
  await Promise.all([...subscribers, ...publishers].map((client) => client.end()))
  return { appendedPerSec: acked / seconds, deliveredPerSec: deliveredInTime / seconds, p99Ms: p99(latencies), ...busy }
}

/** `--profile DIR`: each broker writes DIR/<scenario>-<repetition>.cpuprofile (node --cpu-prof), for bench/profile-top.mjs. */
async function onFreshBroker(run, repetition) {
  const workDir = mkdtempSync(join(tmpdir(), 'fluxmq-queue-bench-'))
  const profile = values.profile === undefined ? {} : { profileDir: values.profile, profileName: `${run.name}-${repetition}` }
  const broker = await launch('fluxmq', { root, workDir, storage: 'sqlite', settings: values.set, ...profile })
  try {
    // CPU of the broker and of this generator over the measured interval, in % of one core: which side was the limit.
    const measure = () => {
      const generator = process.cpuUsage()
      const brokerSeconds = broker.cpuSeconds()
      return (seconds) => {
        const { user, system } = process.cpuUsage(generator)
        const brokerCpuSeconds = broker.cpuSeconds() - brokerSeconds
        return { brokerCpu: (100 * brokerCpuSeconds) / seconds, generatorCpu: (100 * (user + system)) / 1e6 / seconds, brokerCpuSeconds }
      }
    }
    return await run(broker.nodes[0].port, measure)
  } finally {
    const failed = await broker.stop()
    rmSync(workDir, { recursive: true, force: true })
    if (failed.length > 0) console.error(`broker did not exit cleanly: ${JSON.stringify(failed)}`)
  }
}

/**
 * The queue scenario's load for a few seconds, the broker SIGKILLed in the middle of it and
 * started again on the same files: every message PUBACKed before the kill must reach the group
 * (before or after). Payloads carry a unique id instead of a timestamp.
 */
async function crashCheck() {
  const workDir = mkdtempSync(join(tmpdir(), 'fluxmq-queue-crash-'))
  const port = await freePort()
  const argv = ['node', ...fluxmqArgs({ root, port, dataDir: join(workDir, 'data'), storage: 'sqlite', settings: values.set })]
  const start = () => startChild(argv, { cpu: cpus.broker, logFile: join(workDir, `broker-${Date.now()}.log`) })
  const received = new Set()
  const acked = new Set()
  let broker = start()
  try {
    await waitForPort(port, broker)
    await queueConsumers(port, (payload) => received.add(payload.toString()))
    const publishers = await Promise.all(Array.from({ length: PUBLISHERS }, (_, i) => LeanClient.connect(port, { clientId: `crash-publisher-${i}` })))
    const counters = new Array(PUBLISHERS).fill(0)
    let killed = false
    const publishing = publishUntil(
      publishers,
      () => '$queue/bench',
      () => killed,
      (i) => Buffer.from(`p${i}-${counters[i]++}`),
      (payload) => acked.add(payload.toString()),
    )
    await sleep(Math.min(2000, (duration * 1000) / 2))
    const pubackedBeforeKill = acked.size
    process.kill(broker.pid, 'SIGKILL')
    killed = true
    await broker.exited
    // The connections closed with the broker: publishes without PUBACK failed, `publishing` is over.
    await publishing
    broker = start()
    await waitForPort(port, broker)
    let deliveredAfterRestart = 0
    const again = await queueConsumers(port, (payload) => {
      deliveredAfterRestart++
      received.add(payload.toString())
    })
    const deadline = Date.now() + 60_000
    const missing = () => [...acked].filter((id) => !received.has(id))
    while (missing().length > 0 && Date.now() < deadline) await sleep(100)
    await Promise.all(again.map((client) => client.end()))
    // What was delivered and not yet acked by its commit comes again: deliveries after the restart.
    return { pubacked: acked.size, pubackedBeforeKill, deliveredAfterRestart, lost: missing().length }
  } finally {
    await broker.stop()
    rmSync(workDir, { recursive: true, force: true })
  }
}

/** The repetition with the median value of `key`. */
function medianBy(samples, key) {
  const sorted = [...samples].sort((a, b) => a[key] - b[key])
  return sorted[Math.floor((sorted.length - 1) / 2)]
}

const persistentRuns = []
const queueRuns = []
// Repetitions alternate the two paths, so background load drifting over the run hits both alike.
for (let rep = 0; rep < repetitions; rep++) {
  persistentRuns.push(await onFreshBroker(persistentScenario, rep))
  await sleep(300)
  queueRuns.push(await onFreshBroker(queueScenario, rep))
  await sleep(300)
}
const persistent = medianBy(persistentRuns, 'deliveredPerSec')
const queue = medianBy(queueRuns, 'deliveredPerSec')
const crash = await crashCheck()
const ratio = queue.deliveredPerSec / persistent.deliveredPerSec
// Messages per second of broker CPU: what the load on a shared machine changes least.
const perCpu = (runs) => runs.reduce((sum, r) => sum + r.deliveredPerSec * duration, 0) / runs.reduce((sum, r) => sum + r.brokerCpuSeconds, 0)
const cpuRatio = perCpu(queueRuns) / perCpu(persistentRuns)
const result = {
  duration,
  ackQos,
  repetitions,
  persistent,
  queue,
  samples: { persistent: persistentRuns, queue: queueRuns },
  ratio,
  cpuRatio,
  crash,
  pass: ratio >= TARGET_RATIO && crash.lost === 0,
}

const row = (name, r) =>
  `| ${name} | ${Math.round(r.appendedPerSec)} | ${Math.round(r.deliveredPerSec)} | ${r.p99Ms.toFixed(1)} | ${Math.round(r.brokerCpu)} % | ${Math.round(r.generatorCpu)} % |`
console.log(
  `Queue scenario: SQLite, ${duration} s × ${repetitions} each (median), ${PUBLISHERS} publishers × ${WINDOW} in flight, ${PAYLOAD} B payloads, lib/lean-client.mjs generator` +
    `${ackQos === 0 ? ', $ack at QoS 0' : ''}\n`,
)
console.log('| path | PUBACKed/s | delivered (+acked) /s | p99 end-to-end ms | broker CPU | generator CPU |')
console.log('|---|---|---|---|---|---|')
console.log(row(`persistent sessions QoS 1, ${PUBLISHERS} → ${PUBLISHERS}`, persistent))
console.log(row(`queue, ${PUBLISHERS} → 1 group of ${CONSUMERS} (manual $ack)`, queue))
console.log(
  `\nqueue / persistent (delivered): ${ratio.toFixed(2)}x — target ≥ ${TARGET_RATIO}x: ${ratio >= TARGET_RATIO ? 'PASS' : 'FAIL'}` +
    ` (per broker CPU-second, all repetitions: ${cpuRatio.toFixed(2)}x)`,
)
console.log(
  `SIGKILL mid-stream: ${crash.pubackedBeforeKill} PUBACKed before the kill (${crash.pubacked} in all), ${crash.deliveredAfterRestart} delivered after the restart, ` +
    `${crash.lost} PUBACKed missing — ${crash.lost === 0 ? 'PASS' : 'FAIL'}`,
)
if (values.json !== undefined) writeFileSync(values.json, JSON.stringify(result, null, 2) + '\n')
