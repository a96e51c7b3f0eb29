#!/usr/bin/env node
// pnpm bench: FluxMQ, Mosquitto and Aedes on the same MQTT load in the same run, FluxMQ and RabbitMQ
// on the same AMQP load, next to the sink ceiling; markdown tables to stdout, everything measured to
// bench/results/<date>.json.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus as cpuList, loadavg, release, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { BROKERS, LABELS, unavailable } from './lib/brokers.mjs'
import { formatTopFrames, topFrames } from './lib/cpuprofile.mjs'
import { buildLoadgen } from './lib/loadgen.mjs'
import { measureOnce } from './lib/measure.mjs'
import { ensureRabbitmq, rabbitmqVersion } from './lib/rabbitmq.mjs'
import { cpus } from './lib/process.mjs'
import { median, notes, table, targets } from './lib/report.mjs'
import { SCENARIOS, SIZES, resolve } from './lib/scenarios.mjs'

const benchDir = fileURLToPath(new URL('.', import.meta.url))
const root = join(benchDir, '..')

/** Issue 11's queue scenario: FluxMQ alone (queue path beside its persistent-session path), from queue.mjs. */
const QUEUE = 'queue'

const HELP = `pnpm bench [options]
  --quick               about one minute: ${SCENARIOS.filter((s) => s.quick).map((s) => s.id).join(', ')}, ${QUEUE}; 1 repetition
  --only a,b            scenarios: ${SCENARIOS.map((s) => s.id).join(', ')}, ${QUEUE} (queue.mjs, FluxMQ only)
  --brokers a,b         targets: ${BROKERS.join(', ')} (default: all); the sink always runs unless --no-sink
  --no-sink             skip the ceiling runs
  --repetitions N       repetitions per scenario and broker (default 3, --quick 1); the median is reported
  --duration S          measured seconds per run after warm-up (default 8, --quick 3)
  --profile             FluxMQ only, under node --cpu-prof into bench/results/profiles/; prints the top frames
  --fluxmq-node-flags=F Node/V8 flags for FluxMQ's process, e.g. --fluxmq-node-flags=--single-threaded-gc (an A/B; in the header)
  --readme              also write the table, targets and machine into bench/README.md ("Latest results")
  --help`

function options() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      brokers: { type: 'string' },
      'no-sink': { type: 'boolean', default: false },
      repetitions: { type: 'string' },
      duration: { type: 'string' },
      profile: { type: 'boolean', default: false },
      'fluxmq-node-flags': { type: 'string', default: '' },
      readme: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  })
  if (values.help) {
    console.log(HELP)
    process.exit(0)
  }
  const list = (value, known, what) => {
    const names = value.split(',').filter(Boolean)
    const unknown = names.filter((name) => !known.includes(name))
    if (unknown.length > 0) throw new Error(`unknown ${what}: ${unknown.join(', ')} (known: ${known.join(', ')})`)
    return names
  }
  const size = { ...SIZES[values.quick ? 'quick' : 'full'] }
  if (values.repetitions) size.repetitions = Number(values.repetitions)
  if (values.duration) size.duration = Number(values.duration)
  if (!(size.repetitions >= 1) || !(size.duration > 0)) throw new Error('--repetitions and --duration must be positive numbers')
  const ids = SCENARIOS.map((s) => s.id)
  const only = values.only ? list(values.only, [...ids, QUEUE], 'scenario') : [...ids.filter((id) => !values.quick || SCENARIOS.find((s) => s.id === id).quick), QUEUE]
  const brokers = values.profile ? ['fluxmq'] : values.brokers ? list(values.brokers, BROKERS, 'broker') : BROKERS
  const sink = !values['no-sink'] && !values.profile
  const nodeFlags = values['fluxmq-node-flags'].split(/\s+/).filter(Boolean)
  return { quick: values.quick, profiling: values.profile, readme: values.readme, size, only, brokers, sink, nodeFlags }
}

function machine() {
  const mosquitto = spawnSync('/usr/sbin/mosquitto', ['-h'], { encoding: 'utf8' })
  const aedesPackage = join(benchDir, 'node_modules/aedes/package.json')
  return {
    cpu: cpuList()[0]?.model ?? 'unknown',
    cores: cpuList().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    mosquitto: /mosquitto version (\S+)/.exec(mosquitto.stdout ?? '')?.[1] ?? 'not installed',
    aedes: existsSync(aedesPackage) ? JSON.parse(readFileSync(aedesPackage, 'utf8')).version : 'not installed',
    rabbitmq: rabbitmqVersion() ?? 'not installed',
    pinning: cpus.broker === null ? 'none (one CPU)' : `broker on CPU ${cpus.broker}, generator on CPU ${cpus.loadgen}`,
  }
}

/** Replaces what stands between the README's results markers. */
function writeReadmeResults(text) {
  const file = join(benchDir, 'README.md')
  const readme = readFileSync(file, 'utf8')
  const start = '<!-- results:start -->\n'
  const end = '<!-- results:end -->'
  const from = readme.indexOf(start)
  const to = readme.indexOf(end)
  if (from < 0 || to < from) throw new Error(`${file} has no ${start.trim()} … ${end} section`)
  writeFileSync(file, `${readme.slice(0, from + start.length)}${text}\n${readme.slice(to)}`)
}

function timestamp() {
  return new Date().toISOString().slice(0, 16).replace(':', '-') + 'Z'
}

/** Runs queue.mjs at the run's size: its table as printed, and its measurements (undefined if it failed). */
function runQueueScenario(size) {
  const dir = mkdtempSync(join(tmpdir(), 'fluxmq-bench-queue-'))
  const json = join(dir, 'queue.json')
  try {
    console.error(`queue scenario (${size.repetitions} × 2 × ${size.duration} s, then a SIGKILL check)`)
    const args = [join(benchDir, 'queue.mjs'), '--duration', String(size.duration), '--repetitions', String(size.repetitions), '--json', json]
    const run = spawnSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
    const text = run.stdout.trim()
    if (run.status !== 0 || !existsSync(json)) return { text: `${text}\nqueue scenario failed (exit ${run.status})`, result: undefined }
    return { text, result: JSON.parse(readFileSync(json, 'utf8')) }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

async function main() {
  const opts = options()
  // Mosquitto (and the clients the tests use) come from Debian; installed only when missing.
  spawnSync('bash', [join(root, 'scripts/ensure-system-deps.sh')], { stdio: 'inherit' })
  // RabbitMQ only for the AMQP scenarios: a bench-only dependency, so not in ensure-system-deps.sh.
  if (opts.brokers.includes('rabbitmq') && opts.only.some((id) => SCENARIOS.find((s) => s.id === id)?.protocol === 'amqp')) ensureRabbitmq()
  const binary = buildLoadgen(benchDir)
  const stamp = timestamp()
  const resultsDir = join(benchDir, 'results')
  const profileDir = opts.profiling ? join(resultsDir, 'profiles', stamp) : undefined
  mkdirSync(profileDir ?? resultsDir, { recursive: true })
  const workDir = mkdtempSync(join(tmpdir(), 'fluxmq-bench-'))

  const skipped = {}
  for (const name of opts.brokers) {
    const reason = unavailable(name, root)
    if (reason) skipped[name] = reason
  }
  for (const [name, reason] of Object.entries(skipped)) console.error(`skipping ${LABELS[name]}: ${reason}`)
  const targetsToRun = [...opts.brokers.filter((name) => !skipped[name]), ...(opts.sink ? ['sink'] : [])]

  const rows = []
  const started = Date.now()
  const loadBefore = loadavg()[0]
  for (const id of opts.only.filter((id) => id !== QUEUE)) {
    const scenario = resolve(
      SCENARIOS.find((s) => s.id === id),
      opts.size,
    )
    const row = { id, title: scenario.title, kind: scenario.kind, protocol: scenario.protocol, storage: scenario.storage, brokers: scenario.brokers, load: scenario.load, results: {}, samples: {} }
    // The sink has no sessions to take over.
    const scenarioTargets = targetsToRun.filter((target) => (target === 'sink' ? scenario.kind !== 'takeover' : !scenario.brokers || scenario.brokers.includes(target)))
    for (const target of scenarioTargets) row.samples[target] = []
    // Repetitions go round the targets, so background load drifting over the run hits each alike.
    for (let rep = 0; rep < opts.size.repetitions; rep += 1) {
      for (const target of scenarioTargets) {
        // The ceiling is a property of the generator, not a contest: one repetition is enough.
        if (target === 'sink' && rep > 0) continue
        const sample = await measureOnce({
          target,
          scenario,
          root,
          workDir,
          binary,
          id: `${id}-${target}-${rep}`,
          settleMs: opts.size.settleMs,
          sinkDuration: opts.size.sinkDuration,
          profileDir,
          nodeFlags: opts.nodeFlags,
        })
        row.samples[target].push(sample)
        const shown = sample.value === null ? 'failed' : sample.value.toFixed(1)
        console.error(`[${((Date.now() - started) / 1000).toFixed(0)}s] ${id} ${LABELS[target]} #${rep + 1}: ${shown}${sample.failed ? ' FAIL' : ''}`)
      }
    }
    for (const target of scenarioTargets) row.results[target] = median(row.samples[target])
    rows.push(row)
  }
  rmSync(workDir, { recursive: true, force: true })
  const queue = opts.only.includes(QUEUE) && opts.brokers.includes('fluxmq') && !skipped.fluxmq && !opts.profiling ? runQueueScenario(opts.size) : undefined

  // Other work on the machine takes CPU from the broker: the load average says how much there was.
  const info = { ...machine(), loadAverage: { before: loadBefore, after: loadavg()[0] } }
  const markdown = table(rows)
  const verdicts = targets(rows)
  const warnings = notes(rows)
  const header =
    `FluxMQ benchmark ${stamp}${opts.quick ? ' (quick)' : ''}: ${info.cpu}, ${info.cores} cores, ${info.memoryGiB} GiB, Linux ${info.kernel}, ` +
    `${info.pinning}, Node ${info.node}, Mosquitto ${info.mosquitto}, Aedes ${info.aedes}, RabbitMQ ${info.rabbitmq}, ` +
    `load average ${info.loadAverage.before.toFixed(1)} → ${info.loadAverage.after.toFixed(1)}` +
    (opts.nodeFlags.length > 0 ? `, FluxMQ under node ${opts.nodeFlags.join(' ')}` : '')
  if (queue !== undefined) {
    verdicts.push({
      name: `queue ≥ 0.5× persistent QoS 1 (delivered+acked/s, same run): ${queue.result?.ratio.toFixed(2) ?? '—'}×; nothing PUBACKed lost across a SIGKILL: ${queue.result?.crash.lost ?? '—'} lost`,
      verdict: queue.result === undefined ? 'FAIL' : queue.result.pass ? 'PASS' : 'FAIL',
    })
  }
  const sections = [header]
  if (rows.length > 0) sections.push(markdown)
  if (queue !== undefined) sections.push(queue.text)
  sections.push(`Targets:\n${verdicts.map(({ name, verdict }) => `- ${verdict}  ${name}`).join('\n')}`)
  if (warnings.length > 0) sections.push(`Notes:\n${warnings.join('\n')}`)
  for (const [name, reason] of Object.entries(skipped)) sections.push(`${LABELS[name]} not run: ${reason}`)
  console.log(`\n${sections.join('\n\n')}`)
  if (opts.readme) writeReadmeResults(sections.join('\n\n'))

  const file = join(resultsDir, `${stamp}${opts.quick ? '-quick' : ''}${opts.profiling ? '-profile' : ''}.json`)
  const profiles = {}
  if (profileDir) {
    for (const name of readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile'))) {
      const frames = topFrames(JSON.parse(readFileSync(join(profileDir, name), 'utf8')), 25)
      profiles[name] = frames
      console.log(`\nTop frames by self time, ${join(profileDir, name)}:\n${formatTopFrames(frames)}`)
    }
  }
  const report = { date: new Date().toISOString(), machine: info, options: opts, skipped, table: markdown, targets: verdicts, notes: warnings, rows, queue: queue?.result, profiles }
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n')
  console.log(`\nResults: ${file} (${((Date.now() - started) / 1000).toFixed(0)} s)`)
}

main().catch((error) => {
  console.error(error.message)
  process.exit(1)
})
