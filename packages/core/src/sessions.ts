import type { BrokerOptions, ClientLink, ConnectRequest, SessionHandle } from './api.js'
import type { ClientIdentity } from './auth.js'
import type { Cluster, HeldState, SessionClaim, StoredOwnership, TransferredSession } from './cluster.js'
import { BrokerError, BrokerErrorCode } from './errors.js'
import { capExpiry, effectiveExpiry, NEVER_EXPIRES } from './options.js'
import type { Clock, Logger } from './ports.js'
import { Refusal } from './refusal.js'
import type { Router } from './router.js'
import { Session, type SessionContext } from './session.js'
import type { Stats } from './stats.js'
import type { InflightRecord, SessionRecord, Storage, StoredSession, SubscriptionOptions, WillRecord } from './storage.js'
import { Subscription } from './subscription.js'
import type { TimerQueue } from './timers.js'
import { willDelay } from './will.js'

export interface SessionRegistryDeps {
  readonly options: BrokerOptions
  readonly ctx: SessionContext
  readonly storage: Storage
  readonly cluster: Cluster
  readonly router: Router
  readonly timers: TimerQueue
  readonly stats: Stats
  readonly clock: Clock
  readonly logger: Logger
  /**
   * Publishes a will (the broker routes it like a client publish). `epoch`: the session is stored,
   * so the cluster has the will too and must give it up first (`Cluster.takeWill`).
   */
  readonly publishWill: (clientId: string, will: WillRecord, now: number, epoch: number | undefined) => void
}

/** The epoch that fences a session's will in the cluster; undefined when the session is not stored (nor mirrored). */
function storedEpoch(s: Session): number | undefined {
  return s.stored ? s.epoch : undefined
}

function staleEpoch(clientId: string, detail: string): BrokerError {
  return new BrokerError(BrokerErrorCode.StaleEpoch, `session ${clientId}: ${detail}`)
}

/**
 * The sessions of this node and their lifecycle: attach (new, resumed, taken over, handed over
 * from another node), connection loss, will scheduling, expiry, end; and each session's
 * subscriptions in the router, with cluster routes following the local counts.
 */
export class SessionRegistry {
  private readonly byClientId = new Map<string, Session>()
  /** Sessions with a live connection, for retry scans and shutdown. */
  readonly connected = new Set<Session>()

  constructor(private readonly d: SessionRegistryDeps) {}

  get(clientId: string): Session | undefined {
    return this.byClientId.get(clientId)
  }

  values(): IterableIterator<Session> {
    return this.byClientId.values()
  }

  /** The session behind a handle, or undefined when the handle is stale [MQTT-3.1.4-3]. */
  live(handle: SessionHandle): Session | undefined {
    const s = this.byClientId.get(handle.clientId)
    return s !== undefined && s.handle === handle ? s : undefined
  }

  /** A session found in Storage at start, claimed as `ownership` says: rescheduled as disconnected. */
  /** `rewrite`: the record is written again even when nothing in it changed here (a new epoch). */
  load(stored: StoredSession, ownership: StoredOwnership, now: number, rewrite = false): Session {
    const s = this.restore(stored.session, stored.subscriptions, stored.inflight, stored.incomingQos2, stored.releasedQos2)
    s.epoch = ownership.epoch
    s.stored = true
    s.restoreStoredQueue(stored.offlineCount)
    this.d.stats.offlineQueuedCurrent += stored.offlineCount
    const handled = ownership.willHandled && s.will !== undefined
    if (handled) {
      s.will = undefined
      this.d.logger.info({ clientId: s.clientId, epoch: stored.session.epoch }, 'stored will already handled by the cluster, not published again')
    }
    // No disconnectedAt: the broker went down while the client was connected; it is gone now.
    // Sessions that were already disconnected are rescheduled without rewriting their record,
    // unless their will went.
    const crashed = stored.session.disconnectedAt === undefined
    // Wills this makes due go out at the first tick, not inside start(): in a cluster the node
    // routes to other nodes only once it has joined, after start(), and a will published before
    // reached no subscriber there (a node restarted within its lease owed it; nobody else did).
    this.connectionGone(s, s.disconnectedAt ?? now, rewrite || crashed || handled, true)
    return s
  }

  /** Attaches a connection once the cluster granted ownership (`claim`). */
  attach(
    request: ConnectRequest,
    link: ClientLink,
    identity: ClientIdentity,
    claim: SessionClaim,
  ): { readonly handle: SessionHandle; readonly sessionPresent: boolean; readonly expiry: number } {
    const id = request.clientId
    const now = this.d.clock.now()
    let s = this.byClientId.get(id)
    const transferred = claim.transferred
    // Fencing: an older ownership must not replace a newer one, nor older state a newer claim.
    if (s !== undefined && claim.epoch < s.epoch) throw staleEpoch(id, `claim ${claim.epoch} is older than ${s.epoch} held here`)
    if (transferred !== undefined && (transferred.session.epoch ?? 0) >= claim.epoch) {
      throw staleEpoch(id, `transferred state of epoch ${transferred.session.epoch} is not older than claim ${claim.epoch}`)
    }
    if (transferred !== undefined) {
      // The previous owner was another node: its state wins over any stale local copy.
      if (s !== undefined) {
        if (s.handle !== undefined) this.takeOver(s, true, now, claim.epoch)
        this.end(s, false, false)
      }
      s = this.adopt(transferred, claim.epoch)
      // The other half of a takeover across nodes (see surrender): the closed connection's delayed
      // will goes out when this connection ends the session, as takeOver() does on one node.
      const will = transferred.takeoverWill
      if (will !== undefined && request.cleanStart) this.d.publishWill(id, will, now, claim.epoch)
    }
    if (s !== undefined) {
      if (s.handle !== undefined) this.takeOver(s, request.cleanStart, now, claim.epoch)
      else if (s.will !== undefined) {
        // [MQTT-3.1.3-9] A new connection before the Will Delay Interval elapsed: the will is not sent.
        s.willTimer?.cancel()
        s.willTimer = undefined
        s.will = undefined
      }
      s.expiryTimer?.cancel()
      s.expiryTimer = undefined
      // [MQTT-3.1.2-4] Clean Start discards any existing session; one with expiry 0 ended with its connection.
      if (request.cleanStart || s.expiryInterval === 0) {
        this.end(s, false, false)
        s = undefined
      }
    }
    // [MQTT-3.2.2-2] Session Present is 0 for a new session; [MQTT-3.2.2-3] 1 for a resumed one.
    const sessionPresent = s !== undefined
    const expiry = effectiveExpiry(this.d.options, request.protocol, request.sessionExpiryInterval)
    if (s === undefined) {
      s = new Session(id, identity, expiry, this.d.ctx)
      this.byClientId.set(id, s)
      this.d.stats.sessionsCurrent++
    }
    const handle: SessionHandle = { clientId: id, identity }
    s.epoch = claim.epoch
    s.identity = identity
    s.expiryInterval = expiry
    s.disconnectedAt = undefined
    s.will = request.will
    s.receiveMaximum = request.receiveMaximum > 0 ? request.receiveMaximum : 0xffff
    s.link = link
    s.handle = handle
    this.connected.add(s)
    const stats = this.d.stats
    if (++stats.connectionsCurrent > stats.connectionsMaximum) stats.connectionsMaximum = stats.connectionsCurrent
    stats.connectionsTotal++
    // Stored with the will while connected, so a crash still publishes it after the restart. In a
    // cluster (`takeWill`) so is the will of a session that ends with its connection: mirrored
    // where the other nodes see it, it is published by the leader when this node dies.
    if (expiry > 0 || s.stored || (s.will !== undefined && this.d.cluster.takeWill !== undefined)) s.persist()
    return { handle, sessionPresent, expiry }
  }

  /** [MQTT-3.1.4-3] The session is connected elsewhere on this node: that connection is closed (`session_taken_over`). */
  private takeOver(s: Session, cleanStart: boolean, now: number, epoch: number): void {
    const old = s.link as ClientLink
    // Stale first: the adapter may call disconnect() from inside close().
    this.unlink(s)
    old.close(Refusal.SessionTakenOver)
    const will = s.will
    s.will = undefined
    // [MQTT-3.1.2-8] Its connection closed: its will goes out now if it has no delay or the session ends;
    // otherwise the new connection came before the delay elapsed [MQTT-3.1.3-9].
    const ends = cleanStart || s.expiryInterval === 0
    // The new connection's claim (`epoch`) is what fences the will now.
    if (will !== undefined && (will.delayInterval === 0 || ends)) this.d.publishWill(s.clientId, will, now, s.stored ? epoch : undefined)
    this.d.logger.info({ clientId: s.clientId }, 'session taken over')
  }

  /** The client's connection is gone (DISCONNECT, socket loss, protocol error). */
  disconnect(s: Session, publishWill: boolean, sessionExpiryInterval: number | undefined): void {
    this.unlink(s)
    if (sessionExpiryInterval !== undefined) s.expiryInterval = capExpiry(this.d.options, sessionExpiryInterval)
    // [MQTT-3.1.2-10] A normal DISCONNECT (0x00) deletes the will without publishing it.
    if (!publishWill) s.will = undefined
    this.connectionGone(s, this.d.clock.now())
  }

  /**
   * Shutdown, first phase: every live connection is about to be closed by the server. Their wills
   * that this makes due go out now: no Will Delay, or a session that ends with its connection
   * [MQTT-3.1.2-8]. A delayed will of a session that outlives the connection stays pending (and
   * stored), to be published after its delay, across the restart.
   */
  publishClosingWills(now: number): void {
    for (const s of [...this.connected]) {
      const will = s.will
      if (will === undefined || s.ended || willDelay(will, s.expiryInterval) > 0) continue
      s.will = undefined
      // Written before it is published: a crash now must not publish it a second time after the restart.
      if (s.stored) this.d.storage.putSession(s.record())
      this.d.publishWill(s.clientId, will, now, storedEpoch(s))
    }
  }

  /** The server closes a live connection (shutdown, admin kick): as a connection loss, will included. */
  close(s: Session, reason: Refusal): void {
    const link = s.link as ClientLink
    this.unlink(s)
    link.close(reason)
    this.connectionGone(s, this.d.clock.now())
  }

  private unlink(s: Session): void {
    s.detach()
    this.connected.delete(s)
    this.d.stats.connectionsCurrent--
  }

  /**
   * The connection of `s` closed at `at`: schedules its will and its expiry, or ends it. A will
   * due now goes out at once, or at the next tick when `willAtTick`.
   */
  private connectionGone(s: Session, at: number, write = true, willAtTick = false): void {
    const now = this.d.clock.now()
    if (s.expiryInterval === 0) {
      // [MQTT-3.1.2-8] … or when the session ends, whichever is first. Found at start-up (stored
      // for its will in a cluster), it ends at the first tick, its will with it.
      if (willAtTick && s.will !== undefined) s.expiryTimer = this.d.timers.add(at, () => this.expire(s))
      else this.end(s, true, true)
      return
    }
    const will = s.will
    if (will !== undefined) {
      const delay = willDelay(will, s.expiryInterval)
      if (delay === 0 && !willAtTick) {
        s.will = undefined
        this.d.publishWill(s.clientId, will, now, storedEpoch(s))
      } else {
        s.willTimer = this.d.timers.add(at + delay * 1000, (t) => this.willDue(s, t))
      }
    }
    s.disconnectedAt = at
    if (write || s.will !== will) s.persist()
    if (s.expiryInterval !== NEVER_EXPIRES) {
      s.expiryTimer = this.d.timers.add(at + s.expiryInterval * 1000, () => this.expire(s))
    }
  }

  private willDue(s: Session, now: number): void {
    const will = s.will
    if (will === undefined || s.ended) return
    s.will = undefined
    if (s.stored) this.d.storage.putSession(s.record())
    this.d.publishWill(s.clientId, will, now, storedEpoch(s))
  }

  private expire(s: Session): void {
    if (s.ended || s.handle !== undefined) return
    this.d.logger.info({ clientId: s.clientId }, 'session expired')
    this.d.stats.sessionsExpired++
    this.end(s, true, true)
  }

  /** Ends a session: routes, storage and ownership go; a pending will is published when asked. */
  private end(s: Session, publishWill: boolean, release: boolean): void {
    if (s.ended) return
    const will = publishWill ? s.will : undefined
    const epoch = storedEpoch(s)
    s.end()
    for (const sub of s.subscriptions.values()) this.unroute(sub)
    if (s.stored) this.d.storage.deleteSession(s.clientId)
    this.byClientId.delete(s.clientId)
    this.d.stats.sessionsCurrent--
    // The will first: the cluster takes it out of etcd while the ownership still fences it.
    if (will !== undefined) this.d.publishWill(s.clientId, will, this.d.clock.now(), epoch)
    if (release) this.d.cluster.releaseSession(s.clientId)
  }

  /** Adds or replaces [MQTT-3.8.4-3] a granted subscription of `s`. */
  subscribe(s: Session, options: SubscriptionOptions): void {
    const existing = s.subscriptions.get(options.filter)
    if (existing !== undefined) existing.update(options)
    else this.route(new Subscription(s, options))
    if (s.stored) this.d.storage.putSubscription(s.clientId, options)
  }

  /** False when `s` had no subscription to the filter. */
  unsubscribe(s: Session, filter: string): boolean {
    const sub = s.removeSubscription(filter)
    if (sub === undefined) return false
    this.unroute(sub)
    if (s.stored) this.d.storage.deleteSubscription(s.clientId, filter)
    return true
  }

  private route(sub: Subscription): void {
    sub.session.putSubscription(sub)
    this.d.stats.subscriptionsCurrent++
    if (this.d.router.add(sub)) this.d.cluster.addRoute(sub.options.filter)
  }

  private unroute(sub: Subscription): void {
    this.d.stats.subscriptionsCurrent--
    if (this.d.router.remove(sub)) this.d.cluster.removeRoute(sub.options.filter)
  }

  /**
   * Another node takes the client over under `epoch`: close it here, hand everything over, forget
   * it. The closed connection's will is decided as takeOver() decides it on one node: published
   * here now when it has no delay or the session had expiry 0; a delayed one travels as
   * `takeoverWill` for the new owner, which alone knows whether the new connection ends the session.
   */
  async surrender(clientId: string, epoch: number): Promise<TransferredSession | undefined> {
    const s = this.byClientId.get(clientId)
    if (s === undefined) return undefined
    if (epoch <= s.epoch) throw staleEpoch(clientId, `surrender requested under epoch ${epoch}, held here under ${s.epoch}`)
    let takeoverWill: WillRecord | undefined
    if (s.handle !== undefined) {
      const now = this.d.clock.now()
      const link = s.link as ClientLink
      this.unlink(s)
      link.close(Refusal.SessionTakenOver)
      s.disconnectedAt = now
      const will = s.will
      s.will = undefined
      // Not taken from the cluster: the new owner's claim already fences this node's copy there.
      if (will !== undefined && willDelay(will, s.expiryInterval) === 0) this.d.publishWill(clientId, will, now, undefined)
      else takeoverWill = will
    }
    const session = s.record()
    const subscriptions = [...s.subscriptions.values()].map((sub) => sub.options)
    const inflight = [...s.inflight.values()].filter((out) => !out.external).map((out) => out.toRecord())
    const incomingQos2 = [...s.incomingQos2]
    const releasedQos2 = [...s.releasedQos2]
    const memory = s.queuedInMemory()
    const wasStored = s.stored
    const stored = wasStored ? s.queued : 0
    // Out of the router now, so nothing new lands here while the stored queue is read.
    s.stored = false
    this.end(s, false, false)
    const offline = stored > 0 ? await this.d.storage.takeOffline(clientId, stored) : memory
    // Its rows go even with nothing queued: left behind, this node's next start would hand its
    // inflight messages to the new owner once more.
    if (wasStored) this.d.storage.deleteSession(clientId)
    const transferred: TransferredSession = { session, subscriptions, inflight, incomingQos2, releasedQos2, offline }
    return takeoverWill === undefined ? transferred : { ...transferred, takeoverWill }
  }

  /**
   * Another node owns the session now (this node's lease on it expired): stop serving it here at
   * once. Nothing is published, released or deleted: the will and the stored state are the new
   * owner's to decide about; the rows left in Storage are not loaded again while the cluster says
   * another node owns them (see claimStored). Returns those rows as a start would load them (the
   * queue stays in Storage), undefined for a session that is not stored.
   */
  lose(clientId: string): StoredSession | undefined {
    const s = this.byClientId.get(clientId)
    if (s === undefined) return undefined
    // Not published here: the ownership is gone. It stays in the stored form, which the cluster
    // may hold here again with it when no other node can have published it.
    const will = s.will
    s.will = undefined
    if (s.handle !== undefined) {
      const link = s.link as ClientLink
      this.unlink(s)
      link.close(Refusal.SessionTakenOver)
    }
    const kept: StoredSession | undefined = s.stored
      ? {
          session: will === undefined ? s.record() : { ...s.record(), will },
          subscriptions: [...s.subscriptions.values()].map((sub) => sub.options),
          inflight: [...s.inflight.values()].filter((out) => !out.external).map((out) => out.toRecord()),
          incomingQos2: [...s.incomingQos2],
          releasedQos2: [...s.releasedQos2],
          offlineCount: s.queued,
        }
      : undefined
    s.stored = false
    this.end(s, false, false)
    this.d.logger.warn({ clientId, epoch: s.epoch }, 'session ownership lost, no longer served here')
    return kept
  }

  /**
   * A session the cluster claimed here for a client connected nowhere (see ClusterInbound.holdSession):
   * scheduled as disconnected, with the stored will only when it is still this node's. False when
   * a session of that client is here already.
   */
  hold(epoch: number, state: HeldState, now: number): boolean {
    const record = 'stored' in state ? state.stored.session : state.transferred.session
    if (this.byClientId.has(record.clientId)) return false
    if ('stored' in state) {
      // Written again: the record (and etcd, through the mirror) carries the new claim's epoch.
      this.load(state.stored, { epoch, willHandled: state.willHandled }, now, true)
    } else {
      const s = this.adopt(state.transferred, epoch)
      this.connectionGone(s, s.disconnectedAt ?? now)
    }
    this.d.logger.info({ clientId: record.clientId, epoch, from: 'stored' in state ? 'storage' : 'etcd' }, 'session held offline for an absent client')
    return true
  }

  /** A session handed over by another node (cluster takeover or a dead node's session). */
  private adopt(t: TransferredSession, epoch: number): Session {
    const s = this.restore(t.session, t.subscriptions, t.inflight, t.incomingQos2, t.releasedQos2 ?? [])
    s.epoch = epoch
    s.adopt(t.offline)
    if (s.expiryInterval > 0) s.persist()
    return s
  }

  private restore(
    record: SessionRecord,
    subscriptions: readonly SubscriptionOptions[],
    inflight: readonly InflightRecord[],
    incomingQos2: readonly number[],
    releasedQos2: readonly number[],
  ): Session {
    const identity: ClientIdentity = { clientId: record.clientId, protocol: record.protocol }
    const s = new Session(record.clientId, identity, record.expiryInterval, this.d.ctx)
    s.will = record.will
    s.disconnectedAt = record.disconnectedAt
    for (const options of subscriptions) this.route(new Subscription(s, options))
    s.restore(inflight, incomingQos2, releasedQos2)
    this.byClientId.set(s.clientId, s)
    this.d.stats.sessionsCurrent++
    return s
  }
}
