import type { Logger } from '@fluxmq/core'
import type { IKeyValue, Namespace, Watcher } from 'etcd3'
import { ClusterError, ClusterErrorCode, describeCause } from './errors.js'

/** One key's value and the revisions and lease etcd reports with it. */
export interface PrefixEntry {
  readonly value: Buffer
  readonly createRevision: string
  readonly modRevision: string
  /** The lease the key hangs on; '0' for none. */
  readonly lease: string
}

/** What a watch-fed cache does with each key under its prefix, in revision order. */
export interface PrefixHandler {
  /** The key was created or written again (a write that changed nothing but its lease counts too). */
  put(key: string, entry: PrefixEntry): void
  delete(key: string): void
}

/**
 * A local copy of every key under one prefix, kept current by a watch:
 *  - start(): one range read at revision R, then a watch from R+1, so no change is missed or seen twice;
 *  - a dropped watch stream is resumed by etcd3 from the last revision it delivered;
 *  - a watch that etcd cancels (its revision was compacted away while we were disconnected, or any
 *    other cancel) triggers one resync: a fresh range at the current revision R', a diff against
 *    the copy (handler sees only what changed), and a new watch from R'+1. A resync that fails is
 *    retried with backoff; nothing reloads on a timer or in a loop while the watch is healthy.
 */
export class WatchedPrefix {
  private readonly entries = new Map<string, PrefixEntry>()
  private watcher: Watcher | undefined
  private stopped = false
  private retryTimer: NodeJS.Timeout | undefined
  private resyncCount = 0

  constructor(
    private readonly etcd: Namespace,
    private readonly prefix: string,
    private readonly handler: PrefixHandler,
    private readonly log: Logger,
  ) {}

  /** Number of times a canceled watch forced a resync since start (each one range read, retried only on failure). */
  get resyncs(): number {
    return this.resyncCount
  }

  /** The keys and values currently held (a read-only view). */
  get snapshot(): ReadonlyMap<string, PrefixEntry> {
    return this.entries
  }

  async start(): Promise<void> {
    try {
      await this.load()
    } catch (error) {
      throw new ClusterError(ClusterErrorCode.EtcdUnavailable, `initial read of ${this.prefix} failed: ${describeCause(error)}`, { cause: error })
    }
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.retryTimer)
    const watcher = this.watcher
    this.watcher = undefined
    await watcher?.cancel()
  }

  private async load(): Promise<void> {
    const res = await this.etcd.getAll().prefix(this.prefix).exec()
    if (this.stopped) return
    const seen = new Set<string>()
    for (const kv of res.kvs) {
      const key = kv.key.toString()
      seen.add(key)
      this.applyPut(key, kv)
    }
    for (const key of [...this.entries.keys()]) if (!seen.has(key)) this.applyDelete(key)
    const from = (BigInt(res.header.revision) + 1n).toString()
    const watcher = await this.etcd.watch().prefix(this.prefix).startRevision(from).create()
    if (this.stopped) {
      await watcher.cancel()
      return
    }
    this.watcher = watcher
    watcher.on('put', (kv: IKeyValue) => {
      if (this.watcher === watcher) this.applyPut(kv.key.toString(), kv)
    })
    watcher.on('delete', (kv: IKeyValue) => {
      if (this.watcher === watcher) this.applyDelete(kv.key.toString())
    })
    watcher.on('error', (error: Error) => {
      if (this.watcher !== watcher) return
      this.watcher = undefined
      this.log.warn({ prefix: this.prefix, err: describeCause(error) }, 'watch canceled by etcd, resyncing by revision')
      this.resyncCount += 1
      this.resync(0)
    })
  }

  private resync(attempt: number): void {
    if (this.stopped) return
    this.load().catch((error: unknown) => {
      const delayMs = Math.min(5_000, 100 * 2 ** attempt)
      this.log.warn({ prefix: this.prefix, err: describeCause(error), delayMs }, 'resync failed, retrying')
      this.retryTimer = setTimeout(() => this.resync(attempt + 1), delayMs)
    })
  }

  private applyPut(key: string, kv: IKeyValue): void {
    // A resync finds most keys as they were: only a newer write is news.
    if (this.entries.get(key)?.modRevision === kv.mod_revision) return
    const entry = { value: kv.value, createRevision: kv.create_revision, modRevision: kv.mod_revision, lease: kv.lease }
    this.entries.set(key, entry)
    this.handler.put(key, entry)
  }

  private applyDelete(key: string): void {
    if (!this.entries.delete(key)) return
    this.handler.delete(key)
  }
}
