import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { createInterface } from 'node:readline'
import type { Logger } from '@fluxmq/core'
import { ClusterError, ClusterErrorCode, describeCause } from './errors.js'
import { type HealthTls, checkHealth } from './etcd-health.js'
import { logEtcdLine } from './etcd-log.js'
import { Listeners } from './listeners.js'
import { isEtcdOnDataDir, isRunning, readPidFile, removePidFile, writePidFile } from './pid-file.js'
import { sleep } from './sleep.js'

/** One certificate for the member's client and peer ports; both then require client certificates. */
export interface EtcdMemberTls {
  readonly certFile: string
  readonly keyFile: string
  readonly caFile: string
}

export interface EtcdMemberOptions {
  /** The etcd executable (`cluster.etcd.binary`). */
  readonly binary: string
  /** Member name; the node id, so `initial_cluster` can name it. */
  readonly name: string
  readonly dataDir: string
  /** host:port of the client listener (`cluster.etcd.client_addr`). */
  readonly clientAddr: string
  /** host:port of the peer listener (`cluster.etcd.peer_addr`). */
  readonly peerAddr: string
  /** `n1=http://h:2380,n2=…`; empty = this member alone. Ignored by etcd once the data dir holds a member. */
  readonly initialCluster?: string
  readonly initialClusterToken?: string
  readonly tls?: EtcdMemberTls
  readonly logger: Logger
  /** How long start() (and each restart) waits for `/health`; default 30 s. */
  readonly startTimeoutMs?: number
  /** SIGTERM → SIGKILL grace on stop; default 10 s. */
  readonly stopGraceMs?: number
  /** Restart delay after a death: doubles from min to max; default 200 ms … 10 s. */
  readonly restartBackoffMs?: { readonly min: number; readonly max: number }
}

type State = 'idle' | 'running' | 'stopping' | 'stopped'

const HEALTH_POLL_MS = 100
const HEALTH_REQUEST_TIMEOUT_MS = 1_000

/**
 * Supervises the embedded etcd member of this node: spawns it, waits for `/health`, restarts it
 * with bounded backoff when it dies, stops it with SIGTERM then SIGKILL, logs its output through
 * the broker's logger, and keeps a pid file in the data dir so that a broker restarted after a
 * SIGKILL replaces the orphan member it left behind instead of failing on the locked data dir.
 */
export class EtcdMember {
  readonly clientUrl: string
  readonly peerUrl: string
  private readonly dataDir: string
  private readonly log: Logger
  private readonly healthTls: HealthTls | undefined
  private state: State = 'idle'
  private child: ChildProcess | undefined
  private childExit: Promise<void> = Promise.resolve()
  private restartTimer: NodeJS.Timeout | undefined
  private restartAttempt = 0
  private startedAt = 0
  private readonly restarted = new Listeners<[pid: number]>()

  constructor(readonly options: EtcdMemberOptions) {
    const scheme = options.tls === undefined ? 'http' : 'https'
    this.clientUrl = `${scheme}://${options.clientAddr}`
    this.peerUrl = `${scheme}://${options.peerAddr}`
    this.dataDir = resolve(options.dataDir)
    this.log = options.logger.child({ etcdMember: options.name })
    this.healthTls =
      options.tls === undefined
        ? undefined
        : { ca: readFileSync(options.tls.caFile), cert: readFileSync(options.tls.certFile), key: readFileSync(options.tls.keyFile) }
  }

  /** The pid of the running member process, if any. */
  get pid(): number | undefined {
    return this.child?.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined
  }

  /** Called with the new pid each time the supervisor brought a dead member back to health. */
  onRestarted(listener: (pid: number) => void): () => void {
    return this.restarted.add(listener)
  }

  /** Replaces an orphan member left on this data dir, spawns etcd and resolves once it is healthy. */
  async start(): Promise<void> {
    if (this.state !== 'idle') throw new ClusterError(ClusterErrorCode.Closed, `etcd member ${this.options.name} was already started`)
    this.state = 'running'
    mkdirSync(this.dataDir, { recursive: true, mode: 0o700 })
    await this.replaceOrphan()
    try {
      await this.spawnHealthy()
    } catch (error) {
      await this.stop()
      throw error
    }
  }

  /** SIGTERM, then SIGKILL after the grace; resolves when the process is gone and the pid file removed. */
  /** `graceMs`: how long SIGTERM gets before SIGKILL (default `stopGraceMs`). */
  async stop(graceMs?: number): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping') return this.childExit
    this.state = 'stopping'
    clearTimeout(this.restartTimer)
    const child = this.child
    if (child?.pid !== undefined && this.pid !== undefined) {
      child.kill('SIGTERM')
      const grace = graceMs ?? this.options.stopGraceMs ?? 10_000
      const timer = setTimeout(() => {
        this.log.warn({ pid: child.pid, graceMs: grace }, 'etcd member ignored SIGTERM, sending SIGKILL')
        child.kill('SIGKILL')
      }, grace)
      await this.childExit
      clearTimeout(timer)
    }
    removePidFile(this.dataDir)
    this.state = 'stopped'
  }

  private async replaceOrphan(): Promise<void> {
    const pid = readPidFile(this.dataDir)
    if (pid === undefined) return
    if (!isRunning(pid) || !isEtcdOnDataDir(pid, this.options.binary, this.dataDir)) {
      this.log.info({ pid }, 'stale etcd pid file ignored: no etcd on this data dir runs with that pid')
      removePidFile(this.dataDir)
      return
    }
    // Replaced rather than reused: its stdout/stderr went to the killed broker, so its logs are lost
    // and Go exits on its next write to the broken pipe anyway. SIGTERM lets it close its WAL cleanly.
    this.log.warn({ pid }, 'orphan etcd member from a previous broker found on this data dir, replacing it')
    signal(pid, 'SIGTERM')
    const grace = this.options.stopGraceMs ?? 10_000
    if (!(await waitForExit(pid, grace))) {
      this.log.warn({ pid, graceMs: grace }, 'orphan etcd member ignored SIGTERM, sending SIGKILL')
      signal(pid, 'SIGKILL')
      await waitForExit(pid, grace)
    }
    removePidFile(this.dataDir)
  }

  private async spawnHealthy(): Promise<void> {
    const child = this.spawnChild()
    let exited: string | undefined
    void this.childExit.then(() => {
      exited = child.pid === undefined ? 'could not be spawned' : `exited with ${child.exitCode ?? child.signalCode}`
    })
    const timeoutMs = this.options.startTimeoutMs ?? 30_000
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      if (this.state !== 'running') return
      if (exited !== undefined) throw new ClusterError(ClusterErrorCode.EtcdStart, `etcd member ${this.options.name} (${this.options.binary}) ${exited} before it became healthy`)
      if (await checkHealth(this.clientUrl, this.healthTls, HEALTH_REQUEST_TIMEOUT_MS)) {
        this.startedAt = Date.now()
        this.log.info({ pid: child.pid, clientUrl: this.clientUrl }, 'etcd member healthy')
        return
      }
      await sleep(HEALTH_POLL_MS)
    }
    throw new ClusterError(ClusterErrorCode.EtcdStart, `etcd member ${this.options.name} not healthy within ${timeoutMs} ms at ${this.clientUrl}`)
  }

  private spawnChild(): ChildProcess {
    const child = spawn(this.options.binary, this.args(), { stdio: ['ignore', 'pipe', 'pipe'] })
    this.child = child
    this.childExit = new Promise((resolveExit) => {
      child.once('exit', () => resolveExit())
      // A failed spawn (binary missing, not executable) emits 'error' and never 'exit'.
      child.once('error', (error) => {
        this.log.error({ binary: this.options.binary, err: describeCause(error) }, 'etcd member could not be spawned')
        resolveExit()
        this.onExit(child, null, null)
      })
    })
    for (const stream of [child.stdout, child.stderr]) {
      if (stream !== null) createInterface({ input: stream }).on('line', (line) => logEtcdLine(this.log, line))
    }
    if (child.pid !== undefined) {
      writePidFile(this.dataDir, child.pid)
      this.log.info({ pid: child.pid, clientUrl: this.clientUrl, peerUrl: this.peerUrl }, 'etcd member started')
    }
    child.once('exit', (code, signal) => this.onExit(child, code, signal))
    return child
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return
    if (this.state !== 'running') {
      this.log.info({ pid: child.pid, code, signal }, 'etcd member stopped')
      return
    }
    // A member that stayed up longer than the longest delay was healthy: start backing off afresh.
    const backoff = this.options.restartBackoffMs ?? { min: 200, max: 10_000 }
    if (this.startedAt > 0 && Date.now() - this.startedAt > backoff.max) this.restartAttempt = 0
    const delayMs = Math.min(backoff.max, backoff.min * 2 ** this.restartAttempt)
    this.restartAttempt += 1
    this.log.warn({ pid: child.pid, code, signal, delayMs, attempt: this.restartAttempt }, 'etcd member died, restarting')
    this.restartTimer = setTimeout(() => void this.restart(), delayMs)
  }

  private async restart(): Promise<void> {
    if (this.state !== 'running') return
    try {
      await this.spawnHealthy()
      const pid = this.pid
      if (pid !== undefined && this.state === 'running') this.restarted.emit(pid)
    } catch (error) {
      // The failed child's exit handler schedules the next attempt; one still running but unhealthy is killed first.
      this.log.error({ err: describeCause(error) }, 'etcd member restart failed')
      if (this.pid !== undefined) this.child?.kill('SIGKILL')
    }
  }

  private args(): string[] {
    const o = this.options
    const args = [
      `--name=${o.name}`,
      `--data-dir=${this.dataDir}`,
      `--listen-client-urls=${this.clientUrl}`,
      `--advertise-client-urls=${this.clientUrl}`,
      `--listen-peer-urls=${this.peerUrl}`,
      `--initial-advertise-peer-urls=${this.peerUrl}`,
      `--initial-cluster=${o.initialCluster === undefined || o.initialCluster === '' ? `${o.name}=${this.peerUrl}` : o.initialCluster}`,
      '--initial-cluster-state=new',
      `--initial-cluster-token=${o.initialClusterToken ?? 'fluxmq'}`,
      '--logger=zap',
      '--log-outputs=stderr',
      // A member cut off from the others (its node partitioned) campaigns alone; without pre-vote
      // each attempt raises its term, and when the link is back that term deposes the leader: the
      // whole cluster is without quorum for an election, long enough for every node to lose its
      // lease and stop serving its sessions (etcd 3.4 leaves it off; 3.5+ turns it on).
      '--pre-vote',
    ]
    if (o.tls !== undefined) {
      const { certFile, keyFile, caFile } = o.tls
      args.push(
        `--cert-file=${certFile}`,
        `--key-file=${keyFile}`,
        `--trusted-ca-file=${caFile}`,
        '--client-cert-auth',
        `--peer-cert-file=${certFile}`,
        `--peer-key-file=${keyFile}`,
        `--peer-trusted-ca-file=${caFile}`,
        '--peer-client-cert-auth',
      )
    }
    return args
  }
}

/** Signals `pid`; one that exited since it was checked is already where the signal would take it. */
function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (isRunning(pid)) {
    if (Date.now() >= deadline) return false
    await sleep(50)
  }
  return true
}
