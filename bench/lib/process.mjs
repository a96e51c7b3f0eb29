// Child processes for the bench: pinned to one CPU, with enough file descriptors for the idle
// scenario, stopped by pid only (SIGTERM, then SIGKILL after a bound).
import { spawn, spawnSync } from 'node:child_process'
import { createWriteStream, readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { createConnection, createServer } from 'node:net'

/**
 * Descriptors per process: 10,000 idle connections need more than the usual 1024. As high as the
 * hard limit allows (raising the hard limit needs CAP_SYS_RESOURCE, which containers often lack).
 */
function fdLimit() {
  const hard = spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).stdout.trim()
  return hard === 'unlimited' ? 65536 : Math.min(65536, Number(hard))
}
const FD_LIMIT = fdLimit()

/** CPUs for the broker and the generator; both null on a one-CPU machine (nothing to separate). */
export const cpus = availableParallelism() >= 2 ? { broker: 0, loadgen: 1 } : { broker: null, loadgen: null }

/** The command line that runs `argv` on `cpu` with the raised descriptor limit. */
export function pinned(cpu, argv) {
  const limited = ['prlimit', `--nofile=${FD_LIMIT}:${FD_LIMIT}`, ...argv]
  return cpu === null ? limited : ['taskset', '-c', String(cpu), ...limited]
}

/**
 * Starts a long-lived child (a broker): output goes to `logFile`, the returned handle knows its
 * pid (taskset and prlimit exec, so the pid is the broker's own) and how to stop it.
 */
export function startChild(argv, { cpu, logFile, env }) {
  const [cmd, ...args] = pinned(cpu, argv)
  const log = createWriteStream(logFile)
  // Only PATH from the caller's shell: a stray FLUXMQ_* variable would change or stop the broker.
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '', ...env } })
  child.stdout.pipe(log)
  child.stderr.pipe(log)
  // 'close', not 'exit': the output pipes are drained by then, so the log can end.
  const exited = new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })))
  return {
    pid: child.pid,
    exited,
    get running() {
      return child.exitCode === null && child.signalCode === null
    },
    async stop(graceMs = 10_000) {
      if (this.running) {
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
        await exited
        clearTimeout(timer)
      }
      await new Promise((resolve) => log.end(resolve))
      return exited
    },
  }
}

function statusKiB(pid, field) {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  if (!match) throw new Error(`no ${field} for pid ${pid}`)
  return Number(match[1])
}

/** Resident set size of `pid` in KiB, from /proc/<pid>/status. */
export function rssKiB(pid) {
  return statusKiB(pid, 'VmRSS')
}

/** The largest resident set size `pid` has had since it started (VmHWM), in KiB. */
export function peakRssKiB(pid) {
  return statusKiB(pid, 'VmHWM')
}

/** CPU seconds `pid` has used so far, all threads, user and system (/proc/<pid>/stat). */
export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after the parenthesized command name; utime and stime are the 14th and 15th overall.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
}
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100

/** Ports this run handed out: the OS may give a port out again once its probe closed, before the broker that was to bind it did. */
const issued = new Set()

/** A TCP port free on 127.0.0.1 right now (the broker binds it a moment later), never one this run handed out before. */
export async function freePort() {
  for (;;) {
    const port = await probePort()
    if (issued.has(port)) continue
    issued.add(port)
    return port
  }
}

function probePort() {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

function canConnect(port) {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/** Resolves once `port` accepts connections; rejects when `child` exits first or after `ms`. */
export async function waitForPort(port, child, ms = 20_000) {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (!child.running) throw new Error(`exited before listening on ${port}`)
    if (await canConnect(port)) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`not listening on ${port} after ${ms} ms`)
}
