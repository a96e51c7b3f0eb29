// What an idle MQTT connection costs the broker: RSS per connection as `pnpm bench --only idle`
// measures it, plus the V8 heap by object kind (heap snapshots before and after, per connection).
// Needs a built broker and the bench's load generator (`pnpm bench --only idle` builds both once).
// Other helpers bench on this machine too, so hold the lock:
//   flock /tmp/bench.lock node packages/mqtt/bench/idle-heap.mjs [connections=10000]
// NODE_FLAGS="--max-semi-space-size=4" passes V8 flags to the broker.
import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'

const root = new URL('../../../', import.meta.url).pathname
const conns = Number(process.argv[2] ?? 10_000)
const work = mkdtempSync(join(tmpdir(), 'fluxmq-idle-heap-'))

const freePort = () =>
  new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1])
const accepting = (port) =>
  new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.destroy()
      resolve(true)
    })
    socket.on('error', () => resolve(false))
  })

const port = await freePort()
const flags = process.env.NODE_FLAGS ? process.env.NODE_FLAGS.split(' ') : []
const broker = spawn('node', [...flags, '--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${work}`, join(root, 'apps/broker/dist/bin.js'),
  '--set', `server.mqtt.tcp.addr=127.0.0.1:${port}`, '--set', 'server.http.addr=', '--set', 'server.mqtt.websocket.addr=',
  '--set', 'server.amqp.addr=', '--set', 'log.level=warn', '--set', 'storage.type=memory', '--set', `storage.dir=${work}`], { stdio: 'inherit' })

/** Asks the broker for a heap snapshot; resolves with its file once written. */
async function snapshot() {
  const before = new Set(readdirSync(work).filter((f) => f.endsWith('.heapsnapshot')))
  broker.kill('SIGUSR2')
  let size = -1
  for (let i = 0; i < 600; i++) {
    await sleep(500)
    const file = readdirSync(work).find((f) => f.endsWith('.heapsnapshot') && !before.has(f))
    if (file === undefined) continue
    // The file appears when writing starts: done once it stops growing.
    const now = statSync(join(work, file)).size
    if (now > 0 && now === size) return join(work, file)
    size = now
  }
  throw new Error('no heap snapshot')
}

/** Self size and count per object kind ("type:constructor"), strings and code lumped together. */
function byKind(file) {
  const { snapshot: { meta }, nodes, strings } = JSON.parse(readFileSync(file, 'utf8'))
  const width = meta.node_fields.length
  const [type, name, size] = ['type', 'name', 'self_size'].map((field) => meta.node_fields.indexOf(field))
  const kinds = new Map()
  for (let i = 0; i < nodes.length; i += width) {
    const t = meta.node_types[0][nodes[i + type]]
    const key = t.includes('string') ? 'string' : t === 'code' ? 'code' : `${t}:${strings[nodes[i + name]].slice(0, 50)}`
    const kind = kinds.get(key) ?? { count: 0, bytes: 0 }
    kind.count += 1
    kind.bytes += nodes[i + size]
    kinds.set(key, kind)
  }
  return kinds
}

try {
  for (let i = 0; i < 200 && !(await accepting(port)); i++) await sleep(50)
  await sleep(1000)
  const heapBefore = byKind(await snapshot())
  const rssBefore = rssKiB(broker.pid)
  const loadgen = spawn(join(root, 'bench/.build/loadgen'), ['idle', '--port', String(port), '--conns', String(conns), '--id', 'idle-heap'], { stdio: ['pipe', 'pipe', 'inherit'] })
  const ready = JSON.parse((await createInterface({ input: loadgen.stdout })[Symbol.asyncIterator]().next()).value)
  await sleep(1000)
  const rssAfter = rssKiB(broker.pid)
  const heapAfter = byKind(await snapshot())
  loadgen.stdin.end()
  const n = ready.connected
  console.log(`${n} idle connections: RSS ${((rssAfter - rssBefore) / n).toFixed(2)} KiB per connection`)
  const rows = [...heapAfter].map(([key, after]) => {
    const before = heapBefore.get(key) ?? { count: 0, bytes: 0 }
    return { key, count: (after.count - before.count) / n, bytes: (after.bytes - before.bytes) / n }
  })
  const total = rows.reduce((sum, row) => sum + row.bytes, 0)
  console.log(`V8 heap: ${total.toFixed(0)} B per connection; by kind (≥ 8 B):`)
  for (const row of rows.filter((r) => r.bytes >= 8).sort((a, b) => b.bytes - a.bytes)) {
    console.log(`${row.bytes.toFixed(0).padStart(6)} B ${row.count.toFixed(2).padStart(6)} × ${row.key}`)
  }
} finally {
  broker.kill('SIGTERM')
  await new Promise((resolve) => broker.once('exit', resolve))
  rmSync(work, { recursive: true, force: true })
}
