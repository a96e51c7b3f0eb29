import type { AddressInfo } from 'node:net'
import type { Readiness } from './http/server.js'

/**
 * What /ready reports: every enabled listener accepting, storage open and healthy, in a cluster
 * the node registered in etcd with its caches loaded, not shutting down. The composition root reports each step; `report()` is cheap enough for every probe.
 */
export class ReadinessTracker {
  /** Enabled listeners in start order; null until bound. */
  private readonly listeners = new Map<string, AddressInfo | null>()
  private storageOpen = false
  /** undefined: not clustered; false until the node joined its cluster. */
  private clusterJoined: boolean | undefined
  /** Once joined: why the node cannot take new sessions now (no etcd quorum, lease lost), if so. */
  private clusterHealth: () => string | undefined = () => undefined
  private stopping = false

  constructor(
    /** A storage failure that makes the node unfit to serve (a SQLite commit that failed), if any. */
    private readonly storageFailure: () => Error | undefined = () => undefined,
  ) {}

  expect(listener: string): void {
    this.listeners.set(listener, null)
  }

  bound(listener: string, address: AddressInfo): void {
    this.listeners.set(listener, address)
  }

  expectCluster(): void {
    this.clusterJoined = false
  }

  joinedCluster(health: () => string | undefined = () => undefined): void {
    this.clusterJoined = true
    this.clusterHealth = health
  }

  storageOpened(): void {
    this.storageOpen = true
  }

  shuttingDown(): void {
    this.stopping = true
    this.storageOpen = false
  }

  report(): Readiness {
    const checks: Record<string, { ok: boolean; reason?: string }> = {}
    for (const [name, address] of this.listeners) {
      if (this.stopping) checks[name] = { ok: false, reason: 'shutting down' }
      else checks[name] = address === null ? { ok: false, reason: 'not listening yet' } : { ok: true }
    }
    const failure = this.storageFailure()
    if (!this.storageOpen) checks.storage = { ok: false, reason: this.stopping ? 'shutting down' : 'storage is not open' }
    else checks.storage = failure === undefined ? { ok: true } : { ok: false, reason: failure.message }
    if (this.clusterJoined !== undefined) {
      if (this.stopping) checks.cluster = { ok: false, reason: 'shutting down' }
      else if (!this.clusterJoined) checks.cluster = { ok: false, reason: 'not registered in the cluster yet' }
      else {
        const unhealthy = this.clusterHealth()
        checks.cluster = unhealthy === undefined ? { ok: true } : { ok: false, reason: unhealthy }
      }
    }
    return { ready: Object.values(checks).every((check) => check.ok), checks }
  }
}
