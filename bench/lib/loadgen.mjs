// The C load generator and sink: compiled here with the machine's gcc, run pinned to the
// generator's CPU, one JSON object out per run.
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { cpus, pinned } from './process.mjs'

const SOURCES = ['loadgen.c', 'sink.c']
const HEADERS = ['mqtt.h', 'buf.h', 'process.h']

/** Compiles loadgen and sink into bench/.build/ unless they are newer than every source. */
export function buildLoadgen(benchDir) {
  const src = join(benchDir, 'loadgen')
  const out = join(benchDir, '.build')
  mkdirSync(out, { recursive: true })
  const newestHeader = Math.max(...HEADERS.map((file) => statSync(join(src, file)).mtimeMs))
  for (const file of SOURCES) {
    const binary = join(out, file.replace(/\.c$/, ''))
    const newest = Math.max(newestHeader, statSync(join(src, file)).mtimeMs)
    if (existsSync(binary) && statSync(binary).mtimeMs > newest) continue
    execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', binary, join(src, file)], { stdio: 'inherit' })
  }
  return join(out, 'loadgen')
}

/** The command-line flags for one load description (see scenarios.mjs). */
function runFlags(load, ports, id) {
  const flags = {
    '--pub-port': ports.pub,
    '--sub-port': ports.sub,
    '--pubs': load.pubs,
    '--subs': load.subs,
    '--pub-topic': load.pubTopic,
    '--sub-filter': load.subFilter,
    '--pub-qos': load.qos,
    '--sub-qos': load.qos,
    '--payload': load.payload,
    '--rate': load.rate ?? 0,
    '--window': load.window ?? 64,
    '--e2e-window': load.e2eWindow ?? 0,
    '--count': load.count ?? 0,
    '--warmup': load.warmup,
    '--duration': load.duration,
    '--drain': load.drain,
    '--quiet': load.quiet ?? 2,
    '--id': id,
  }
  const argv = Object.entries(flags).flatMap(([flag, value]) => [flag, String(value)])
  return load.persistent ? [...argv, '--persistent'] : argv
}

/** Resolves to the last stdout line of `child` as JSON when it exits 0; rejects with its output otherwise. */
export function collect(child, what) {
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk) => (stdout += chunk))
  child.stderr.on('data', (chunk) => (stderr += chunk))
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code, signal) => {
      const last = stdout.trim().split('\n').at(-1)
      if (code === 0 && last?.startsWith('{')) resolve(JSON.parse(last))
      else reject(new Error(`${what} failed (${signal ?? `exit ${code}`}): ${stderr.trim() || stdout.trim()}`))
    })
  })
}

/** Runs one measured load against `ports`; resolves to the generator's JSON result. */
export async function runLoad(binary, load, ports, id) {
  const [cmd, ...args] = pinned(cpus.loadgen, [binary, 'run', ...runFlags(load, ports, id)])
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  // A run cannot take longer than its phases plus both drain bounds; past that it is stuck.
  const bound = (load.warmup + load.duration + 2 * load.drain + 60) * 1000
  const timer = setTimeout(() => child.kill('SIGKILL'), bound)
  try {
    return await collect(child, 'loadgen run')
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Opens `conns` idle connections, calls `measure()` while they are all open, then closes them.
 * Resolves to { ready, done, measured }: the generator's two reports and what measure returned.
 */
export async function holdIdle(binary, port, conns, id, measure) {
  const [cmd, ...args] = pinned(cpus.loadgen, [binary, 'idle', '--port', String(port), '--conns', String(conns), '--id', id])
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] })
  const timer = setTimeout(() => child.kill('SIGKILL'), 180_000)
  const done = collect(child, 'loadgen idle')
  try {
    const lines = createInterface({ input: child.stdout })
    let ready = null
    for await (const line of lines) {
      ready = JSON.parse(line)
      break
    }
    if (!ready) return { ready, done: await done, measured: null }
    const measured = await measure(ready)
    child.stdin.end()
    return { ready, done: await done, measured }
  } finally {
    clearTimeout(timer)
  }
}
