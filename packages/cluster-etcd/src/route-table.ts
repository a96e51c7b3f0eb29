import type { Logger } from '@fluxmq/core'
import type { Namespace } from 'etcd3'
import { ClusterError, ClusterErrorCode, describeCause } from './errors.js'
import { ROUTES, parseRouteKey, routeKey } from './keyspace.js'
import { Listeners } from './listeners.js'
import type { NodeLease } from './node-lease.js'
import { WatchedPrefix } from './watched-prefix.js'

export interface RouteChange {
  readonly type: 'added' | 'removed'
  readonly filter: string
  readonly nodeId: string
}

export interface RouteTableOptions {
  readonly nodeId: string
  readonly logger: Logger
  /** How often a changed local count (not a 0↔1 change) is written to its key; default 1 s. */
  readonly countRefreshMs?: number
}

/** This node's count for one filter and the write that brings its key in line with it. */
interface LocalRoute {
  count: number
  /** True when the key may exist: a put was attempted and no delete has committed since. */
  written: boolean
  /** The last write started (maybe settled), and the one queued behind it. */
  running: Promise<void> | undefined
  queued: Promise<void> | undefined
  refreshTimer: NodeJS.Timeout | undefined
  retryTimer: NodeJS.Timeout | undefined
  retries: number
}

const MAX_RETRY_MS = 5_000

/**
 * The replicated route table of SPEC §6 (the EMQX model): `routes/<filter>/<node>` holds this
 * node's local subscriber count for the filter, on the node lease.
 *
 * Local side: add()/remove() count references; only a 0→1 or 1→0 change writes at once (put or
 * delete), so a million subscribers to one filter are one key and one write; other count changes
 * are written at most once per `countRefreshMs`. Writes of one filter are serialized and each
 * writes the count as it is when it runs, so a burst of changes collapses. A failed write is
 * retried with backoff; after a lease loss every local route is written again on the new lease.
 *
 * Cluster side: a watch-fed map filter → nodes (snapshot at R, watch from R+1, resync by revision,
 * see WatchedPrefix), with a listener per change so the core can keep its trie.
 */
export class RouteTable {
  private readonly local = new Map<string, LocalRoute>()
  private readonly view = new Map<string, Set<string>>()
  private readonly changed = new Listeners<[change: RouteChange]>()
  private readonly watch: WatchedPrefix
  private readonly log: Logger
  private readonly countRefreshMs: number
  private stopGranted: () => void = () => undefined
  private stopped = false

  constructor(
    private readonly etcd: Namespace,
    private readonly lease: NodeLease,
    private readonly options: RouteTableOptions,
  ) {
    this.log = options.logger.child({ nodeId: options.nodeId })
    this.countRefreshMs = options.countRefreshMs ?? 1_000
    this.watch = new WatchedPrefix(etcd, ROUTES, { put: (key) => this.onPut(key), delete: (key) => this.onDelete(key) }, this.log)
  }

  /** Loads the cluster's routes and watches them; resolves when the view is complete. */
  async start(): Promise<void> {
    this.stopGranted = this.lease.onGranted(() => {
      for (const [filter, route] of this.local) if (route.count > 0) void this.sync(filter, route).catch(() => undefined)
    })
    await this.watch.start()
  }

  /** Stops watching and writing; the keys stay until the node lease is revoked or expires. */
  async stop(): Promise<void> {
    this.stopped = true
    this.stopGranted()
    for (const route of this.local.values()) {
      clearTimeout(route.refreshTimer)
      clearTimeout(route.retryTimer)
    }
    await this.watch.stop()
  }

  /**
   * One more local subscriber to `filter`. The first one's promise resolves when the route is in
   * etcd (rejects with a ClusterError when that write failed; it is retried anyway); any other
   * resolves at once, its count following on the next refresh.
   */
  add(filter: string): Promise<void> {
    let route = this.local.get(filter)
    if (route === undefined) {
      route = { count: 0, written: false, running: undefined, queued: undefined, refreshTimer: undefined, retryTimer: undefined, retries: 0 }
      this.local.set(filter, route)
    }
    route.count += 1
    return route.count === 1 ? this.sync(filter, route) : this.refreshLater(filter, route)
  }

  /** One local subscriber fewer; the last one's promise resolves when the route is gone from etcd. */
  remove(filter: string): Promise<void> {
    const route = this.local.get(filter)
    if (route === undefined || route.count === 0) return Promise.resolve()
    route.count -= 1
    return route.count === 0 ? this.sync(filter, route) : this.refreshLater(filter, route)
  }

  localCount(filter: string): number {
    return this.local.get(filter)?.count ?? 0
  }

  /** The nodes (this one included) with at least one subscriber to exactly this filter. */
  nodesFor(filter: string): ReadonlySet<string> {
    return this.view.get(filter) ?? new Set()
  }

  /** Every filter with routes, and the nodes behind each. */
  get filters(): ReadonlyMap<string, ReadonlySet<string>> {
    return this.view
  }

  /** A route appeared or went, on any node (this one included). */
  onChange(listener: (change: RouteChange) => void): () => void {
    return this.changed.add(listener)
  }

  private refreshLater(filter: string, route: LocalRoute): Promise<void> {
    if (route.refreshTimer === undefined) {
      route.refreshTimer = setTimeout(() => {
        route.refreshTimer = undefined
        this.sync(filter, route).catch(() => undefined)
      }, this.countRefreshMs)
    }
    return Promise.resolve()
  }

  /** Queues one write behind the running one (at most one queued: it writes the count as it is when it runs). */
  private sync(filter: string, route: LocalRoute): Promise<void> {
    route.queued ??= (route.running ?? Promise.resolve())
      .catch(() => undefined)
      .then(() => {
        route.queued = undefined
        route.running = this.write(filter, route)
        return route.running
      })
    return route.queued
  }

  private async write(filter: string, route: LocalRoute): Promise<void> {
    if (this.stopped) return
    clearTimeout(route.retryTimer)
    route.retryTimer = undefined
    const key = routeKey(filter, this.options.nodeId)
    const count = route.count
    try {
      if (count > 0) {
        const leaseId = this.lease.requireId()
        // Set before the put: one that fails on a timeout may still have committed, and the 1→0
        // delete must not skip a key that might exist.
        route.written = true
        await this.etcd.put(key).value(String(count)).lease(leaseId).exec()
      } else if (route.written) {
        await this.etcd.delete().key(key).exec()
        route.written = false
      }
      route.retries = 0
    } catch (error) {
      // Without a lease there is nothing to retry on: the re-grant rewrites every local route.
      if (error instanceof ClusterError && error.code === ClusterErrorCode.LeaseLost) throw error
      const delayMs = Math.min(MAX_RETRY_MS, 100 * 2 ** route.retries)
      route.retries += 1
      this.log.warn({ filter, count, err: describeCause(error), retryInMs: delayMs }, 'route write failed, retrying')
      route.retryTimer = setTimeout(() => void this.sync(filter, route).catch(() => undefined), delayMs)
      throw new ClusterError(ClusterErrorCode.EtcdUnavailable, `route ${filter} not written: ${describeCause(error)}`, { cause: error })
    }
    if (route.count === 0 && !route.written && route.queued === undefined && this.local.get(filter) === route) {
      clearTimeout(route.refreshTimer)
      this.local.delete(filter)
    }
  }

  private onPut(key: string): void {
    const route = parseRouteKey(key)
    if (route === undefined) {
      this.log.warn({ key }, 'ignoring a route key of an unknown shape')
      return
    }
    let nodes = this.view.get(route.filter)
    if (nodes === undefined) {
      nodes = new Set()
      this.view.set(route.filter, nodes)
    }
    if (nodes.has(route.nodeId)) return
    nodes.add(route.nodeId)
    this.changed.emit({ type: 'added', ...route })
  }

  private onDelete(key: string): void {
    const route = parseRouteKey(key)
    const nodes = route === undefined ? undefined : this.view.get(route.filter)
    if (route === undefined || nodes === undefined || !nodes.delete(route.nodeId)) return
    if (nodes.size === 0) this.view.delete(route.filter)
    this.changed.emit({ type: 'removed', ...route })
  }
}
