// Heap bytes the core keeps per idle connected client (no sockets or codec): N MQTT 3.1.1
// clean-session clients connect and stay idle, as in the broker bench's idle scenario.
// Run after a build: `node --expose-gc bench/session-memory.mjs [N]`. With `--by-constructor`
// it also writes a heap snapshot and prints the retained self size per constructor.
import { writeHeapSnapshot } from 'node:v8'
import { readFileSync, rmSync } from 'node:fs'
import { Broker, MemoryStorage } from '../dist/index.js'

if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc')
const gc = globalThis.gc
const n = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 10_000)
const byConstructor = process.argv.includes('--by-constructor')

const logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => logger }
const clock = { now: () => Date.now() }
const link = { hasCredit: () => true, deliver: () => true, close() {} }

const broker = new Broker({
  nodeId: 'bench', version: 'bench', clock, logger, storage: new MemoryStorage(),
  maxQos: 2, retryIntervalMs: 0, maxOfflineMessages: 1000, offlineOverflow: 'drop_oldest',
  defaultExpiry: 0, maxExpiry: 0, maxRetainedMessages: 0, maxSubscriptionsPerClient: 0, sysIntervalMs: 0,
})
await broker.start()

function counts() {
  if (!byConstructor) return undefined
  const file = writeHeapSnapshot()
  const snap = JSON.parse(readFileSync(file, 'utf8'))
  rmSync(file)
  const { node_fields: fields, node_types: [types] } = snap.snapshot.meta
  const width = fields.length
  const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f))
  const out = new Map()
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt]]
    const name = type === 'object' || type === 'closure' ? snap.strings[snap.nodes[i + nameAt]] : `(${type})`
    const c = out.get(name) ?? { count: 0, bytes: 0 }
    c.count++
    c.bytes += snap.nodes[i + sizeAt]
    out.set(name, c)
  }
  return out
}

gc()
const before = process.memoryUsage().heapUsed
const beforeCounts = counts()
const handles = []
for (let i = 0; i < n; i++) {
  const r = await broker.connect(
    { clientId: `idle-${i}`, protocol: 'mqtt3', cleanStart: true, sessionExpiryInterval: 0, receiveMaximum: 0 },
    link,
  )
  broker.activate(r.session)
  handles.push(r.session)
}
handles.length = 0
gc()
const after = process.memoryUsage().heapUsed
console.log(`${n} idle sessions: ${((after - before) / n).toFixed(0)} heap bytes per session`)
const afterCounts = counts()
if (afterCounts !== undefined) {
  const rows = []
  for (const [name, c] of afterCounts) {
    const b = beforeCounts.get(name) ?? { count: 0, bytes: 0 }
    const bytes = c.bytes - b.bytes
    if (bytes / n >= 2) rows.push([name, (c.count - b.count) / n, bytes / n])
  }
  rows.sort((x, y) => y[2] - x[2])
  for (const [name, count, bytes] of rows) {
    console.log(`${name.slice(0, 40).padEnd(40)} ${count.toFixed(2).padStart(6)} per session ${bytes.toFixed(0).padStart(6)} B`)
  }
}
await broker.stop()
