import type {
  InflightRecord,
  Logger,
  Message,
  SessionProtocol,
  SessionRecord,
  Storage,
  StoredSession,
  StoredState,
  SubscriptionOptions,
  WillRecord,
} from '@fluxmq/core'
import { ClusterError, ClusterErrorCode, type SessionOwnership, type SubscriptionStore, type WillIndex } from '@fluxmq/cluster-etcd'

export interface SessionMirrorOptions {
  readonly nodeId: string
  readonly subscriptions: SubscriptionStore
  readonly wills: WillIndex
  /** Fences the will writes: only the session's owner at its epoch writes its will. */
  readonly ownership: SessionOwnership
  readonly logger: Logger
}

/** A failed etcd write is tried again after this long (the session's latest state, not a replay). */
const RETRY_MS = 1_000

interface Mirrored {
  readonly epoch: number
  readonly disconnectedAt: number | undefined
  readonly protocol: SessionProtocol
  readonly expiryInterval: number
  readonly will: WillRecord | undefined
  readonly subscriptions: Map<string, SubscriptionOptions>
}

/** What etcd holds for a session, as far as this node wrote it. */
interface Written {
  readonly epoch: number
  readonly saved: string
  readonly will: WillRecord | undefined
  readonly disconnectedAt: number | undefined
}

/**
 * The broker's Storage, with every persistent session's subscriptions and pending will mirrored
 * into etcd (`subs/<client>`, `wills/<client>`), so that when this node dies another node resumes
 * the session with its subscriptions and the leader publishes its will (SPEC §6).
 *
 * A decorator of the Storage port because the core writes there exactly the sessions that outlive
 * their connection, with the epoch of their ownership, and nothing else: the same set the cluster
 * must keep. The etcd writes are asynchronous and coalesced per session (its latest state is
 * written, one write at a time, after the event-loop turn that changed it); they never delay the
 * local commit. Subscription writes are fenced by the session's epoch, so a node that lost the
 * session cannot overwrite its successor's; a failed write is retried with the latest state.
 */
export class SessionMirror implements Storage {
  private readonly sessions = new Map<string, Mirrored>()
  private readonly written = new Map<string, Written>()
  /**
   * Epochs of sessions that ended before anything of theirs was written here (a dead node's
   * session resumed and ended by a Clean Start in one turn): what that node saved is deleted under it.
   */
  private readonly ended = new Map<string, number>()
  private readonly dirty = new Set<string>()
  private readonly busy = new Set<string>()
  private flushTimer: NodeJS.Immediate | undefined
  private readonly retryTimers = new Set<NodeJS.Timeout>()
  private closed = false
  /** What open() loaded, until `disown` picks the sessions another node owns. */
  private readonly loaded = new Map<string, StoredSession>()

  private readonly subscriptions: SubscriptionStore
  private readonly wills: WillIndex
  private readonly ownership: SessionOwnership
  private readonly nodeId: string
  private readonly logger: Logger

  constructor(
    private readonly inner: Storage,
    options: SessionMirrorOptions,
  ) {
    this.subscriptions = options.subscriptions
    this.wills = options.wills
    this.ownership = options.ownership
    this.nodeId = options.nodeId
    this.logger = options.logger
  }

  /** Forgets a session that is no longer served here (surrendered, ownership lost): nothing is written for it. */
  forget(clientId: string): void {
    this.sessions.delete(clientId)
    this.written.delete(clientId)
    this.ended.delete(clientId)
    this.dirty.delete(clientId)
  }

  /**
   * A session held here again from what this node's storage kept of it, after `forget` (it was
   * lost with the lease): the core restored its subscriptions without writing them, so they are
   * mirrored from `stored`, in the same write as the record the hold rewrote. Without this the
   * saved copy in etcd lost them, and the next node to resume the session from etcd resumed it
   * without any (chaos seed 3844332: three subscribers got nothing more).
   */
  restored(stored: StoredSession): void {
    const clientId = stored.session.clientId
    const session = this.sessions.get(clientId)
    if (session === undefined) return
    for (const sub of stored.subscriptions) session.subscriptions.set(sub.filter, sub)
    this.changed(clientId)
  }

  /**
   * The sessions open() loaded that another node owns now: no longer mirrored from here (their
   * owner writes etcd), returned as loaded. Called once, after the start-up claim.
   */
  disown(clientIds: Iterable<string>): StoredSession[] {
    const disowned: StoredSession[] = []
    for (const clientId of clientIds) {
      const stored = this.loaded.get(clientId)
      if (stored === undefined) continue
      this.forget(clientId)
      disowned.push(stored)
    }
    this.loaded.clear()
    return disowned
  }

  /** Resolves once every change made so far reached etcd (or was fenced off); for tests and shutdown. */
  async settled(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while ((this.dirty.size > 0 || this.busy.size > 0) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
  }

  /**
   * Opens the local store. Whether a pending will it kept is still this node's to publish is
   * decided later, by the start-up claim (`EtcdCluster.claimStored`): before it the leader may
   * still take the will, so a check here left a window for a second publication.
   */
  async open(): Promise<StoredState> {
    const state = await this.inner.open()
    for (const stored of state.sessions) this.loaded.set(stored.session.clientId, stored)
    // What was stored was mirrored before the restart; the core rewrites a session under its new epoch.
    for (const stored of state.sessions) {
      const mirrored = fromRecord(stored.session, new Map(stored.subscriptions.map((s) => [s.filter, s])))
      this.sessions.set(stored.session.clientId, mirrored)
      this.written.set(stored.session.clientId, { epoch: mirrored.epoch, saved: savedJson(mirrored), will: mirrored.will, disconnectedAt: mirrored.disconnectedAt })
    }
    return state
  }

  async close(): Promise<void> {
    this.closed = true
    clearImmediate(this.flushTimer)
    for (const timer of this.retryTimers) clearTimeout(timer)
    await this.inner.close()
  }

  sync(): Promise<void> {
    return this.inner.sync()
  }

  putSession(record: SessionRecord): void {
    this.inner.putSession(record)
    const known = this.sessions.get(record.clientId)
    this.sessions.set(record.clientId, fromRecord(record, known?.subscriptions ?? new Map()))
    this.changed(record.clientId)
  }

  deleteSession(clientId: string): void {
    this.inner.deleteSession(clientId)
    const session = this.sessions.get(clientId)
    if (session === undefined) return
    this.sessions.delete(clientId)
    this.ended.set(clientId, session.epoch)
    this.changed(clientId)
  }

  putSubscription(clientId: string, sub: SubscriptionOptions): void {
    this.inner.putSubscription(clientId, sub)
    const session = this.sessions.get(clientId)
    if (session === undefined) return
    session.subscriptions.set(sub.filter, sub)
    this.changed(clientId)
  }

  deleteSubscription(clientId: string, filter: string): void {
    this.inner.deleteSubscription(clientId, filter)
    if (this.sessions.get(clientId)?.subscriptions.delete(filter) === true) this.changed(clientId)
  }

  putInflight(clientId: string, record: InflightRecord): void {
    this.inner.putInflight(clientId, record)
  }

  deleteInflight(clientId: string, packetId: number): void {
    this.inner.deleteInflight(clientId, packetId)
  }

  putIncomingQos2(clientId: string, packetId: number): void {
    this.inner.putIncomingQos2(clientId, packetId)
  }

  releaseIncomingQos2(clientId: string, packetId: number): void {
    this.inner.releaseIncomingQos2(clientId, packetId)
  }

  deleteIncomingQos2(clientId: string, packetId: number): void {
    this.inner.deleteIncomingQos2(clientId, packetId)
  }

  appendOffline(clientId: string, message: Message): void {
    this.inner.appendOffline(clientId, message)
  }

  dropOldestOffline(clientId: string, n: number): void {
    this.inner.dropOldestOffline(clientId, n)
  }

  takeOffline(clientId: string, limit: number): Promise<Message[]> {
    return this.inner.takeOffline(clientId, limit)
  }

  putRetained(message: Message): void {
    this.inner.putRetained(message)
  }

  deleteRetained(topic: string): void {
    this.inner.deleteRetained(topic)
  }

  private changed(clientId: string): void {
    this.dirty.add(clientId)
    this.flushTimer ??= setImmediate(() => this.flush())
  }

  private flush(): void {
    this.flushTimer = undefined
    if (this.closed) return
    for (const clientId of [...this.dirty]) {
      // One write per session at a time; the next flush writes its latest state.
      if (this.busy.has(clientId)) continue
      this.dirty.delete(clientId)
      this.busy.add(clientId)
      this.write(clientId).then(
        () => {
          this.busy.delete(clientId)
          if (this.dirty.has(clientId)) this.changed(clientId)
        },
        (err: unknown) => {
          this.busy.delete(clientId)
          this.logger.warn({ err, clientId }, 'session not mirrored to etcd, retrying')
          const timer = setTimeout(() => {
            this.retryTimers.delete(timer)
            if (this.sessions.has(clientId) || this.written.has(clientId)) this.changed(clientId)
          }, RETRY_MS)
          this.retryTimers.add(timer)
        },
      )
    }
  }

  private async write(clientId: string): Promise<void> {
    const session = this.sessions.get(clientId)
    const last = this.written.get(clientId)
    const endedAt = this.ended.get(clientId)
    this.ended.delete(clientId)
    if (session === undefined) {
      const epoch = last?.epoch ?? endedAt
      if (epoch === undefined) return
      await fencedOff(this.subscriptions.remove(clientId, epoch))
      if (last?.will !== undefined) await this.wills.delete(clientId, last.epoch)
      this.written.delete(clientId)
      return
    }
    const saved = savedJson(session)
    const moved = last?.epoch !== session.epoch
    // A session that ends with its connection (stored for its will alone) is never resumed.
    if (session.expiryInterval > 0 && (moved || last.saved !== saved)) {
      const subscriptions = [...session.subscriptions.values()]
      const ok = await fencedOff(this.subscriptions.save(clientId, session.epoch, { protocol: session.protocol, expiryInterval: session.expiryInterval, subscriptions }))
      if (!ok) {
        // Another node owns the session now: what it saves is the truth.
        this.forget(clientId)
        return
      }
    }
    // Written again when its connection closed: the leader counts a dead node's will delay from then.
    if (moved || last.will !== session.will || (session.will !== undefined && last.disconnectedAt !== session.disconnectedAt)) {
      const will = session.will
      // [MQTT-3.1.2-8] Due after its delay or when the session ends, whichever is first.
      if (will !== undefined) {
        const fence = this.ownership.fenced(clientId, session.epoch)
        const delayInterval = Math.min(will.delayInterval, session.expiryInterval)
        const options = session.disconnectedAt === undefined ? { fence } : { fence, disconnectedAt: session.disconnectedAt }
        if (!(await this.wills.put(clientId, { message: will.message, delayInterval }, session.epoch, options))) {
          this.forget(clientId)
          return
        }
      } else if (last?.will !== undefined) await this.wills.delete(clientId, last.epoch)
    }
    this.written.set(clientId, { epoch: session.epoch, saved, will: session.will, disconnectedAt: session.disconnectedAt })
  }
}

function fromRecord(record: SessionRecord, subscriptions: Map<string, SubscriptionOptions>): Mirrored {
  return { epoch: record.epoch ?? 0, disconnectedAt: record.disconnectedAt, protocol: record.protocol, expiryInterval: record.expiryInterval, will: record.will, subscriptions }
}

function savedJson(session: Mirrored): string {
  return JSON.stringify([session.protocol, session.expiryInterval, [...session.subscriptions.values()]])
}

/** False when the write was refused because another node owns the session; other failures reject. */
async function fencedOff(write: Promise<void>): Promise<boolean> {
  try {
    await write
    return true
  } catch (error) {
    if (error instanceof ClusterError && error.code === ClusterErrorCode.Fenced) return false
    throw error
  }
}
