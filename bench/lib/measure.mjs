// One repetition of one scenario on one target: start it fresh, load it, stop it, and turn the
// generator's report into a sample { value, lost, failed, notes, raw }.
import { setTimeout as sleep } from 'node:timers/promises'
import { runAmqpLoad } from './amqp.mjs'
import { launch } from './brokers.mjs'
import { holdIdle, runLoad } from './loadgen.mjs'
import { scrapeDropped } from './metrics.mjs'
import { measureTakeover } from './takeover.mjs'

/**
 * The sink discards: only the publishing side runs against it (subscribers would wait forever),
 * and briefly: a ceiling needs to be far above the brokers, not precise. A flood's message count
 * bounds what a broker must buffer; the sink buffers nothing, and a ceiling the count cut short
 * would be no ceiling.
 */
function publishingSide(load, duration) {
  return { ...load, subs: 0, persistent: false, count: 0, duration: Math.min(load.duration, duration) }
}

function sampleFromRun(target, scenario, raw) {
  const sink = target === 'sink'
  const notes = [...raw.errors]
  // Subscribers are not reconnected: what a closed subscriber was owed afterwards counts as lost.
  if (raw.sub_disconnects > 0) notes.push(`${raw.sub_disconnects} subscriber(s) disconnected by the broker`)
  if (raw.pub_disconnects > 0) notes.push(`${raw.pub_disconnects} publisher(s) disconnected by the broker`)
  if (raw.exhausted > 0) notes.push(`${raw.exhausted} publisher(s) sent all ${raw.count} messages before the measured window ended: the rates are lower bounds`)
  if (raw.duplicates > 0) notes.push(`${raw.duplicates} duplicate(s)`)
  if (raw.out_of_order > 0) notes.push(`${raw.out_of_order} out of order`)
  if (scenario.kind === 'latency' && raw.slow_episodes_total > 0) notes.push(slowEpisodes(raw))
  let value
  if (scenario.kind === 'latency') value = sink ? raw.ack_rtt_us.p99 : raw.latency_us.p99
  else if ((scenario.kind === 'throughput' || scenario.kind === 'flood') && !sink) value = raw.recv_rate
  else value = raw.pub_rate
  // Still arriving when the drain bound passed: not delivered yet is not known to be lost.
  if (raw.drain_end === 'deadline') {
    notes.push(`${raw.lost} message(s) still undelivered when the ${scenario.load.drain} s drain bound passed (messages were still arriving)`)
    return { value, lost: 0, undelivered: raw.lost, failed: false, notes, raw, subDisconnects: raw.sub_disconnects }
  }
  // At QoS 1 every acknowledged message is owed to every matching subscriber: a loss fails.
  const failed = scenario.load.qos > 0 && raw.lost > 0
  return { value, lost: raw.lost, failed, notes, raw, subDisconnects: raw.sub_disconnects }
}

/** Where the tail latency came from: the stalls, by when their messages were sent. */
function slowEpisodes(raw) {
  const shown = raw.slow_episodes
    .slice(0, 4)
    .map((e) => `at ${(e.at_ms / 1000).toFixed(2)} s for ${e.span_ms.toFixed(0)} ms, ${e.count} msg, max ${(e.max_us / 1000).toFixed(1)} ms`)
  const more = raw.slow_episodes_total > shown.length ? `; ${raw.slow_episodes_total - shown.length} more` : ''
  return `${raw.slow_episodes_total} stall(s) with deliveries ≥ 5 ms: ${shown.join('; ')}${more}`
}

/** The generator's report for one run: the C generator for MQTT, amqp/generator.mjs for AMQP. */
function generate({ root, target, scenario, binary, deployment, id, load }) {
  if (scenario.protocol === 'amqp') {
    const node = deployment.nodes[scenario.pubNode]
    return runAmqpLoad(root, target, load, { amqp: node.amqpPort, mqtt: deployment.nodes[scenario.subNode].port }, id)
  }
  const ports = { pub: deployment.nodes[scenario.pubNode].port, sub: deployment.nodes[scenario.subNode].port }
  return runLoad(binary, load, ports, id)
}

async function runScenario({ root, target, scenario, binary, deployment, id, sinkDuration }) {
  const load = target === 'sink' ? publishingSide(scenario.load, sinkDuration) : scenario.load
  const cpuBefore = deployment.cpuSeconds()
  const startedAt = performance.now()
  const sample = sampleFromRun(target, scenario, await generate({ root, target, scenario, binary, deployment, id, load }))
  // A broker that died during the run has no /proc entry left: its crash is noted on stop.
  if (!deployment.running()) return sample
  const cpu = deployment.cpuSeconds() - cpuBefore
  // How much of its core the broker got: on a shared machine a low share explains a low rate,
  // and deliveries per CPU-second compare brokers whatever share each got.
  sample.cpuShare = cpu / ((performance.now() - startedAt) / 1000)
  if (scenario.kind === 'throughput' && target !== 'sink' && cpu > 0) sample.perCpuSecond = sample.raw.received / cpu
  if (scenario.kind === 'flood' && target !== 'sink') {
    // A fresh process per repetition: its high-water mark is this run's peak.
    sample.peakRssKiB = deployment.peakRssKiB()
    const httpPort = deployment.nodes[0].httpPort
    // null: no /metrics (not FluxMQ, or not scraped) or no such metric; reported as n/a.
    if (httpPort !== undefined && scenario.load.qos === 0) sample.dropped = await scrapeDropped(httpPort)
  }
  return sample
}

async function idleScenario({ scenario, binary, deployment, id, settleMs }) {
  await sleep(settleMs)
  const before = deployment.rssKiB()
  const { ready, done, measured } = await holdIdle(binary, deployment.nodes[0].port, scenario.conns, id, async () => {
    // Let the broker finish what connecting allocated lazily before reading its RSS.
    await sleep(settleMs)
    return deployment.rssKiB()
  })
  const notes = [...done.errors]
  if (ready.failed > 0) notes.push(`${ready.failed} connection(s) not established`)
  if (done.dropped > 0) notes.push(`${done.dropped} idle connection(s) closed by the broker`)
  const value = ready.connected > 0 ? (measured - before) / ready.connected : null
  const raw = { ...ready, rss_before_kib: before, rss_after_kib: measured, dropped: done.dropped }
  return { value, lost: 0, failed: ready.failed > 0 || done.dropped > 0, notes, raw }
}

/** One session moved between the publishing and the subscribing node: p99 CONNECT → CONNACK in µs. */
async function takeoverScenario({ scenario, deployment, id }) {
  const ports = [deployment.nodes[scenario.pubNode].port, deployment.nodes[scenario.subNode].port]
  const raw = await measureTakeover(ports, scenario.moves, `bench-${id}`)
  return { value: raw.takeover_us.p99, lost: 0, failed: false, notes: [], raw }
}

/**
 * Measures `scenario` once on `target`. Never throws for a broker's failure: a broker that does
 * not start, crashes or stalls the generator yields a failed sample with the reason in notes.
 */
export async function measureOnce({ target, scenario, root, workDir, binary, id, settleMs, sinkDuration, profileDir, nodeFlags }) {
  let deployment
  try {
    deployment = await launch(target, {
      root,
      workDir,
      storage: scenario.storage,
      nodes: scenario.nodes,
      metrics: scenario.kind === 'flood',
      amqp: scenario.protocol === 'amqp',
      // Floods measure overload as users meet it: the product's own queue bound and memory limits.
      defaults: scenario.kind === 'flood',
      profileDir,
      nodeFlags,
      profileName: id,
    })
  } catch (error) {
    return { value: null, lost: 0, failed: true, notes: [error.message], raw: null }
  }
  let sample
  try {
    const context = { root, target, scenario, binary, deployment, id, settleMs, sinkDuration }
    sample = scenario.kind === 'idle' ? await idleScenario(context) : scenario.kind === 'takeover' ? await takeoverScenario(context) : await runScenario(context)
  } catch (error) {
    sample = { value: null, lost: 0, failed: true, notes: [error.message], raw: null }
  }
  for (const crash of await deployment.stop()) {
    sample.failed = true
    sample.notes.push(`node ${crash.node} exited with ${crash.signal ?? `code ${crash.code}`}: ${crash.logTail}`)
  }
  return sample
}
