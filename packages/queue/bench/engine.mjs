// Micro-benchmark (not a test) of the engine alone, the shape of the queue scenario:
// `publishers` concurrent publishers append to one queue, each awaiting its own durable promise
// (the PUBACK), while one group of `consumers` members with a window of `window` settles every
// delivery by message id in a later turn (manual ack). Reports appended/s, delivered+acked/s and
// the p99 of append-to-delivery latency, and the CPU time of this process per message (what a
// shared, loaded machine changes least).
//   node bench/engine.mjs [messages=50000] [sync=normal]
// Needs the built package (pnpm build).
import { Buffer } from 'node:buffer'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import process from 'node:process'
import { QueueEngine } from '../dist/index.js'

const total = Number(process.argv[2] ?? 50_000)
const sync = process.argv[3] ?? 'normal'
const publishers = 10
const consumers = 4
const window = 64
const payload = Buffer.alloc(64, 'x')

const dir = mkdtempSync(join(tmpdir(), 'fluxmq-queue-bench-'))
const latencies = []
let acked = 0
let done
const finished = new Promise((resolve) => (done = resolve))
const engine = QueueEngine.open({
  dir,
  sync,
  clock: { now: () => Date.now() },
  deliver: (delivery) => {
    latencies.push(performance.now() - Number(delivery.message.properties.userProperties?.[0]?.[1]))
    // The client's ack arrives in a later turn, as a $ack publish would.
    setImmediate(() => {
      engine.settleMessage({ messageId: delivery.messageId, group: delivery.group, outcome: 'accepted' })
      engine.grant(delivery.consumerId, 1)
      if (++acked === total) done()
    })
  },
})
for (let c = 0; c < consumers; c++) {
  engine.attach({ consumerId: `c${c}`, queue: 'bench', group: 'workers' })
  engine.grant(`c${c}`, window)
}
const ticker = setInterval(() => engine.tick(), 100)
const started = performance.now()
const cpuAtStart = process.cpuUsage()
let appendedAt = 0
await Promise.all(
  Array.from({ length: publishers }, async () => {
    for (let i = 0; i < total / publishers; i++) {
      const sent = performance.now()
      const { durable } = engine.publish('$queue/bench', { topic: '$queue/bench', payload, qos: 1, retain: false, properties: { userProperties: [['sent', String(sent)]] }, publishedAt: Date.now() })
      await durable
    }
  }),
)
appendedAt = performance.now()
await finished
const ended = performance.now()
const cpu = process.cpuUsage(cpuAtStart)
clearInterval(ticker)
latencies.sort((a, b) => a - b)
const p99 = latencies[Math.floor(latencies.length * 0.99)] ?? 0
console.log(
  JSON.stringify({
    messages: total,
    sync,
    appendedPerSecond: Math.round(total / ((appendedAt - started) / 1000)),
    deliveredAndAckedPerSecond: Math.round(total / ((ended - started) / 1000)),
    p99LatencyMs: Number(p99.toFixed(2)),
    cpuMicrosPerMessage: Number(((cpu.user + cpu.system) / total).toFixed(1)),
  }),
)
engine.close()
rmSync(dir, { recursive: true, force: true })
