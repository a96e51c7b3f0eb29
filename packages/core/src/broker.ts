import type {
  BrokerCore,
  BrokerOptions,
  ClientLink,
  ConnectRequest,
  ConnectResult,
  DisconnectOptions,
  PublishResult,
  SessionHandle,
  SubscribeResult,
} from './api.js'
import { isSharedFilter, validateTopicFilter, validateTopicName } from '@fluxmq/topic'
import type { Authorizer, ClientIdentity } from './auth.js'
import type { CarriedDelivery, Cluster, ClusterInbound, HeldState, TransferredSession } from './cluster.js'
import { BrokerError, BrokerErrorCode } from './errors.js'
import { checkOptions, receiveMaximum } from './options.js'
import { LocalCluster } from './local-cluster.js'
import type { Message, QoS } from './message.js'
import type { Clock, Logger } from './ports.js'
import { QueueBindings, isQueueFilter, isQueueTopic } from './queue-bindings.js'
import { QueuedForms } from './queued-form.js'
import { isRefusal, Refusal, type PublishStatus } from './refusal.js'
import { RetainedMessages } from './retained-messages.js'
import { Router } from './router.js'
import type { Outcome } from './settlement.js'
import { Offer, type Session, type SessionContext } from './session.js'
import { sessionInfo, type SessionInfo } from './session-info.js'
import { SessionRegistry } from './sessions.js'
import { Stats } from './stats.js'
import type { StoredSession, SubscriptionOptions, WillRecord } from './storage.js'
import { WriteAheadStorage } from './write-ahead.js'
import type { Subscription } from './subscription.js'
import { SysLoad } from './sys-load.js'
import { sysTopics } from './sys-topics.js'
import { TimerQueue } from './timers.js'
import { willMessage } from './will.js'

const allowAll: Authorizer = { canPublish: () => true, canSubscribe: () => true }

const results = new Map<PublishStatus, PublishResult>()
/** Shared frozen results: the publish hot path allocates none unless Storage was written. */
function result(reason: PublishStatus): PublishResult {
  let r = results.get(reason)
  if (r === undefined) {
    r = Object.freeze({ reason })
    results.set(reason, r)
  }
  return r
}
/** Resolves when both resolve; rejects with the first failure. */
function bothResolved(a: Promise<void>, b: Promise<void>): Promise<void> {
  return Promise.all([a, b]).then(() => undefined)
}

/** What a call through a stale handle gets: the session belongs to a newer connection. */
const STALE = result(Refusal.SessionTakenOver)

/**
 * The protocol-neutral broker: an I/O-free state machine. Events come in through the BrokerCore
 * methods (and ClusterInbound from the cluster plane); effects go out through each session's
 * ClientLink and through Storage and Cluster calls. Time is read from `options.clock`; timers
 * fire only from `tick(now)`.
 */
export class Broker implements BrokerCore, ClusterInbound {
  readonly nodeId: string
  readonly stats = new Stats()

  private readonly options: BrokerOptions
  private readonly storage: WriteAheadStorage
  private readonly cluster: Cluster
  private readonly authorizer: Authorizer
  private readonly logger: Logger
  private readonly clock: Clock
  private readonly ctx: SessionContext
  private readonly registry: SessionRegistry
  private readonly router: Router
  private readonly timers = new TimerQueue()
  private readonly retained: RetainedMessages
  /** Durable queues as a route target; undefined when the composition root gave no QueuePort. */
  private readonly queues: QueueBindings | undefined
  /** Serializes connects per client id: ownership claims may interleave across awaits. */
  private readonly claims = new Map<string, Promise<unknown>>()
  /** Which granted subscriptions were new, for Retain Handling 1 in deliverRetained. */
  private readonly fresh = new WeakMap<SubscribeResult, readonly boolean[]>()
  /** Messages published while routing another (a will from a link that closed mid-delivery). */
  private readonly deferred: Message[] = []
  private routing = false
  /** A will is being accepted: nobody sends it again when a node refuses it (Cluster.forward). */
  private unattended = false
  /** The remote nodes' acceptance of the QoS 1/2 publish being accepted (see accept). */
  private remote: Promise<void> | undefined
  private readonly sysLoad = new SysLoad()
  private state: 'new' | 'starting' | 'running' | 'draining' | 'stopping' | 'stopped' = 'new'
  private startedAt = 0

  constructor(options: BrokerOptions) {
    checkOptions(options)
    this.options = options
    this.nodeId = options.nodeId
    this.storage = new WriteAheadStorage(options.storage)
    this.cluster = options.cluster ?? new LocalCluster(options.nodeId)
    const cluster = this.cluster
    this.router = new Router(cluster.servesShared === undefined ? undefined : (filter, message) => cluster.servesShared?.(filter, message) ?? true)
    this.authorizer = options.authorizer ?? allowAll
    this.logger = options.logger.child({ component: 'core', nodeId: options.nodeId })
    this.clock = options.clock
    const clock = options.clock
    this.ctx = {
      storage: this.storage,
      stats: this.stats,
      logger: this.logger,
      maxOfflineMessages: options.maxOfflineMessages,
      offlineOverflow: options.offlineOverflow,
      queuedForms: new QueuedForms(),
      releasedQos2Kept: receiveMaximum(options),
      now: () => clock.now(),
      wrote: false,
      backpressure: undefined,
      overflowing: undefined,
      halted: false,
    }
    this.queues = options.queues === undefined ? undefined : new QueueBindings(options.queues, this.stats, this.logger, receiveMaximum(options))
    this.retained = new RetainedMessages(this.storage, this.timers, this.stats, options.maxRetainedMessages)
    this.registry = new SessionRegistry({
      options,
      ctx: this.ctx,
      storage: this.storage,
      cluster: this.cluster,
      router: this.router,
      timers: this.timers,
      stats: this.stats,
      clock,
      logger: this.logger,
      publishWill: (clientId, will, now, epoch) => {
        const taken = epoch === undefined ? undefined : this.cluster.takeWill?.(clientId, epoch)
        if (taken === undefined) this.publishWill(clientId, will, now)
        else
          taken.then(
            (mine) => {
              if (!mine) this.logger.info({ clientId, epoch }, 'will left to the node that owns the session now')
              else if (this.state === 'stopped') this.logger.warn({ clientId }, 'will not published: the broker stopped while the cluster gave it up')
              else this.publishWill(clientId, will, now)
            },
            (err: unknown) => this.logger.error({ err, clientId, epoch }, 'will not published: the cluster could not give it up'),
          )
      },
    })
  }

  private publishWill(clientId: string, will: WillRecord, now: number): void {
    // Nobody acknowledges a will: a failure to make it durable or to forward it is logged here.
    this.unattended = true
    let published: PublishResult
    try {
      published = this.accept(willMessage(will.message, clientId, now), true, true)
    } finally {
      this.unattended = false
    }
    published.durable?.catch((err: unknown) => {
      this.logger.error({ err, clientId }, 'will not stored or not accepted by another node')
    })
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new BrokerError(BrokerErrorCode.AlreadyStarted, 'start() was already called')
    this.state = 'starting'
    const loaded = await this.storage.open()
    // Claimed before anything of theirs exists here: no route is announced and no will fires for a
    // session that another node owns now. Those stay in Storage, not loaded (SPEC §6: handing
    // their queued messages to the owner is the cluster plane's).
    const offered = loaded.sessions.map((s) => ({ clientId: s.session.clientId, epoch: s.session.epoch ?? 0, will: s.session.will !== undefined }))
    const owned = await this.cluster.claimStored(offered)
    const now = this.clock.now()
    for (const message of loaded.retained) this.retained.load(message, now)
    for (const stored of loaded.sessions) {
      const ownership = owned.get(stored.session.clientId)
      if (ownership !== undefined) this.registry.load(stored, ownership, now)
      else this.logger.info({ clientId: stored.session.clientId }, 'stored session owned by another node, not loaded')
    }
    this.cluster.attach(this)
    this.startedAt = now
    this.sysLoad.start(this.stats, now)
    this.state = 'running'
    if (this.options.sysIntervalMs > 0) this.timers.add(now, (t) => this.publishSys(t))
    this.logger.info({ sessions: loaded.sessions.length, retained: this.retained.size }, 'core started')
  }

  beginShutdown(): void {
    if (this.state !== 'running') return
    this.state = 'draining'
    // The server is about to close every connection without a DISCONNECT from its client, which
    // makes their wills due [MQTT-3.1.2-8]. Published while every subscriber is still connected:
    // once the adapters start closing, a will would only reach the connections not closed yet.
    this.registry.publishClosingWills(this.clock.now())
  }

  async stop(): Promise<void> {
    this.beginShutdown()
    if (this.state !== 'draining') return
    this.state = 'stopping'
    // Wills that the closing makes due went out in beginShutdown; delayed ones stay pending (stored).
    for (const s of [...this.registry.connected]) this.registry.close(s, Refusal.ServerShuttingDown)
    this.state = 'stopped'
    this.ctx.halted = true
    await this.storage.sync()
    await this.storage.close()
    this.logger.info({}, 'core stopped')
  }

  /** Running, or draining (shutdown begun): connections still open are served until they close. */
  private get serving(): boolean {
    return this.state === 'running' || this.state === 'draining'
  }

  connect(request: ConnectRequest, link: ClientLink): Promise<ConnectResult> {
    const id = request.clientId
    const prev = this.claims.get(id)
    const next = prev === undefined ? this.claim(request, link) : prev.then(() => this.claim(request, link))
    const settled = next.then(
      () => undefined,
      () => undefined,
    )
    this.claims.set(id, settled)
    void settled.then(() => {
      if (this.claims.get(id) === settled) this.claims.delete(id)
    })
    return next
  }

  private async claim(request: ConnectRequest, link: ClientLink): Promise<ConnectResult> {
    if (this.state === 'new' || this.state === 'starting') {
      throw new BrokerError(BrokerErrorCode.NotStarted, 'connect() before start() resolved')
    }
    if (this.state !== 'running') return { ok: false, reason: Refusal.ServerShuttingDown }
    const id = request.clientId
    const identity: ClientIdentity = {
      clientId: id,
      username: request.username,
      protocol: request.protocol,
      remoteAddress: request.remoteAddress,
    }
    // The will is authorized once, at CONNECT, as the client's own publish.
    if (request.will !== undefined && !this.mayPublish(identity, request.will.message.topic)) {
      return { ok: false, reason: Refusal.NotAuthorized }
    }
    let claim
    try {
      claim = await this.cluster.acquireSession(id)
    } catch (err) {
      this.logger.warn({ err, clientId: id }, 'session ownership could not be acquired')
      return { ok: false, reason: Refusal.ServerUnavailable }
    }
    if (this.state !== 'running') return { ok: false, reason: Refusal.ServerShuttingDown }
    try {
      const { handle, sessionPresent, expiry } = this.registry.attach(request, link, identity, claim)
      // After the transferred state (its offline queue first), before anything routed from now on.
      const held = claim.held?.()
      if (held !== undefined) for (const message of held) this.deliverTo(id, message)
      return { ok: true, session: handle, sessionPresent, sessionExpiryInterval: expiry }
    } catch (err) {
      if (!(err instanceof BrokerError) || err.code !== BrokerErrorCode.StaleEpoch) throw err
      this.logger.warn({ err, clientId: id, epoch: claim.epoch }, 'stale session claim refused')
      return { ok: false, reason: Refusal.ServerUnavailable }
    }
  }

  activate(session: SessionHandle): void {
    const s = this.registry.live(session)
    if (s === undefined) return
    s.activate()
    if (this.queues === undefined) return
    // A resumed session's queue subscriptions consume again, where their groups are.
    for (const sub of s.subscriptions.values()) if (isQueueFilter(sub.options.filter)) this.queues.resume(s, sub.options)
  }

  disconnect(session: SessionHandle, options: DisconnectOptions): void {
    const s = this.registry.live(session)
    if (s !== undefined) this.registry.disconnect(s, options.publishWill, options.sessionExpiryInterval)
  }

  publish(from: SessionHandle | null, message: Message): PublishResult {
    let s: Session | null = null
    if (from !== null) {
      s = this.registry.live(from) ?? null
      if (s === null) return STALE
      if (validateTopicName(message.topic) !== undefined) return result(Refusal.TopicInvalid)
      if (!this.mayPublish(s.identity, message.topic)) return result(Refusal.NotAuthorized)
    } else {
      if (validateTopicName(message.topic) !== undefined) return result(Refusal.TopicInvalid)
    }
    // `$queue/…` is the queues' own namespace: appended or settled there, never routed to subscriptions.
    if (this.queues !== undefined && isQueueTopic(message.topic)) {
      if (this.state === 'stopped') return result(Refusal.ServerShuttingDown)
      return this.queues.publish(s, message)
    }
    return this.accept(message, true, true)
  }

  /** Clients may not write the broker's own `$SYS` tree; the rest is the Authorizer's call. */
  private mayPublish(identity: ClientIdentity, topic: string): boolean {
    if (topic.startsWith('$SYS/') || topic === '$SYS') return false
    return this.authorizer.canPublish(identity, topic)
  }

  /**
   * A publish accepted while routes settled, routed now. Its acknowledgement waits on this, so a
   * refusal now (the broker began stopping meanwhile) fails it instead of acknowledging a publish
   * that was never routed.
   */
  private acceptSettled(message: Message, forward: boolean, persist: boolean): Promise<void> | undefined {
    const again = this.accept(message, forward, persist)
    if (!isRefusal(again.reason)) return again.durable
    return Promise.reject(new BrokerError(BrokerErrorCode.PublishRefused, `publish to ${message.topic} refused when routed after its routes settled: ${again.reason}`, again.reason))
  }

  private accept(message: Message, forward: boolean, persist: boolean): PublishResult {
    if (this.state === 'stopped') return result(Refusal.ServerShuttingDown)
    if (forward && message.qos > 0 && !message.retain) {
      // A dead node's routes for it vanished a moment ago and are not back yet (Cluster.routesSettling).
      const settling = this.cluster.routesSettling?.(message.topic)
      if (settling !== undefined) return { reason: 'accepted', durable: settling.then(() => this.acceptSettled(message, forward, persist)) }
    }
    this.stats.messagesReceived++
    // A will published from inside another publish's fan-out must not clear that publish's flags.
    const ctx = this.ctx
    const outer = ctx.wrote
    const outerBackpressure = ctx.backpressure
    const outerRemote = this.remote
    ctx.wrote = false
    ctx.backpressure = undefined
    this.remote = undefined
    let reason: PublishStatus
    let refused: Refusal | undefined
    if (message.retain) {
      const r = this.retained.apply(message, persist)
      if (r.wrote) this.ctx.wrote = true
      refused = r.refused
      reason = refused ?? this.forwardAndRoute(message, forward)
    } else {
      reason = this.forwardAndRoute(message, forward)
    }
    // A publish from this node that a queue captures is appended with the same durability as a
    // `$queue/` publish; one from another node was captured there.
    const captured = forward && refused === undefined ? this.queues?.capture(message) : undefined
    if (captured !== undefined && reason === 'no_subscribers') reason = 'accepted'
    const wrote = ctx.wrote
    const backpressure = ctx.backpressure
    const remote = this.remote
    ctx.wrote = outer || wrote
    ctx.backpressure = outerBackpressure ?? backpressure
    this.remote = outerRemote
    if (remote === undefined && backpressure === undefined && captured === undefined) return wrote ? { reason, durable: this.storage.sync() } : result(reason)
    let durable = remote === undefined ? (wrote ? this.storage.sync() : undefined) : wrote ? bothResolved(this.storage.sync(), remote) : remote
    if (captured !== undefined) durable = durable === undefined ? captured : bothResolved(durable, captured)
    return { reason, durable, backpressure }
  }

  /**
   * A QoS 1/2 publish is acknowledged once the nodes it was forwarded to accepted it (`durable`
   * awaits `remote`); QoS 0 promises nothing, so nobody waits and a refusal is only logged.
   */
  private forwardAndRoute(message: Message, forward: boolean): PublishStatus {
    let sent = false
    if (forward) {
      const accepted = this.cluster.forward(message, this.unattended)
      if (accepted !== undefined) {
        sent = true
        if (message.qos > 0) this.remote = accepted
        else accepted.catch((err: unknown) => this.logger.warn({ err, topic: message.topic }, 'QoS 0 publish not accepted by another node'))
      }
    }
    const reason = this.route(message)
    // [MQTT-5 3.4.2.1] `no_subscribers` (0x10) only when the server knows nobody matched: a node it went to may have.
    return sent && reason === 'no_subscribers' ? 'accepted' : reason
  }

  /** Delivers to every matching local session once; returns what became of the publish. */
  private route(message: Message): PublishStatus {
    if (this.routing) {
      this.deferred.push(message)
      return 'accepted'
    }
    this.routing = true
    try {
      const reason = this.routeOnce(message)
      for (let m = this.deferred.shift(); m !== undefined; m = this.deferred.shift()) this.routeOnce(m)
      return reason
    } finally {
      this.routing = false
    }
  }

  private routeOnce(message: Message): PublishStatus {
    const router = this.router
    router.match(message.topic, message.publisherId, message)
    const direct = router.direct
    const shared = router.shared
    const matched = direct.length + shared.length
    if (matched === 0) return 'no_subscribers'
    let rejected = 0
    let overflowed = 0
    for (let i = 0; i < direct.length; i++) {
      const s = direct[i] as Session
      // QoS is min(published, granted) [MQTT-3.8.4-8]; granted is already capped at max_qos.
      const qos = (message.qos < s.matchQos ? message.qos : s.matchQos) as QoS
      // [MQTT-3.3.1-12] RETAIN is 0 on a forwarded message, [MQTT-3.3.1-13] kept with Retain As Published.
      const offer = s.offer(message, qos, s.matchRetain && message.retain, s.matchIds)
      if (offer === Offer.Rejected) rejected++
      else if (offer === Offer.Overflowed) overflowed++
    }
    for (let i = 0; i < shared.length; i++) {
      const sub = shared[i] as Subscription
      const qos = (message.qos < sub.qos ? message.qos : sub.qos) as QoS
      const retain = sub.options.retainAsPublished && message.retain
      const offer = sub.session.offer(message, qos, retain, sub.ids)
      if (offer === Offer.Rejected) rejected++
      else if (offer === Offer.Overflowed) overflowed++
    }
    // A QoS 0 publish that reached nobody, every queue it feeds being full, is not read faster than
    // those queues drain: reading it only to drop it starves the subscribers of the machine's
    // network and CPU. A publisher that still reaches someone is not slowed for a slow subscriber.
    if (overflowed === matched) this.ctx.backpressure ??= this.ctx.overflowing
    this.ctx.overflowing = undefined
    return rejected === matched ? Refusal.QuotaExceeded : 'accepted'
  }

  publishExactlyOnce(from: SessionHandle, transferId: number, message: Message): PublishResult & { readonly duplicate: boolean } {
    const s = this.registry.live(from)
    if (s === undefined) return { reason: STALE.reason, duplicate: false }
    // [MQTT-4.3.3-10] Until PUBREL, a PUBLISH with the same packet id is acknowledged, never routed again.
    if (s.incomingQos2.has(transferId)) return { reason: 'accepted', duplicate: true }
    const r = this.publish(from, message)
    // A failed PUBREC ends the exchange: the id is not remembered.
    if (isRefusal(r.reason)) return { reason: r.reason, duplicate: false }
    s.receiveIncoming(transferId)
    const sync = s.stored ? this.storage.sync() : undefined
    const durable = sync === undefined ? r.durable : r.durable === undefined ? sync : bothResolved(r.durable, sync)
    return { reason: r.reason, durable, backpressure: r.backpressure, duplicate: false }
  }

  releaseExactlyOnce(from: SessionHandle, transferId: number): boolean {
    return this.registry.live(from)?.releaseIncoming(transferId) ?? false
  }

  creditAvailable(session: SessionHandle): void {
    this.registry.live(session)?.pump()
  }

  received(session: SessionHandle, deliveryId: number): boolean {
    return this.registry.live(session)?.received(deliveryId) ?? false
  }

  settle(session: SessionHandle, deliveryId: number, outcome: Outcome): boolean {
    return this.registry.live(session)?.settle(deliveryId, outcome) ?? false
  }

  subscribe(session: SessionHandle, requests: readonly SubscriptionOptions[]): SubscribeResult {
    const s = this.registry.live(session)
    const codes: (QoS | Refusal)[] = []
    const fresh: boolean[] = []
    for (const req of requests) {
      if (s === undefined) {
        codes.push(Refusal.Unspecified)
        fresh.push(false)
        continue
      }
      const existed = s.subscriptions.has(req.filter)
      const code = this.subscribeOne(s, req)
      codes.push(code)
      fresh.push(!existed)
    }
    const res: SubscribeResult = { codes }
    this.fresh.set(res, fresh)
    return res
  }

  private subscribeOne(s: Session, req: SubscriptionOptions): QoS | Refusal {
    if (validateTopicFilter(req.filter) !== undefined) return Refusal.TopicInvalid
    // [MQTT-3.8.3-4] It is a Protocol Error to set No Local on a Shared Subscription.
    if (req.noLocal && isSharedFilter(req.filter)) return Refusal.ProtocolViolation
    if (!this.authorizer.canSubscribe(s.identity, req.filter)) return Refusal.NotAuthorized
    if (this.queues !== undefined && isQueueFilter(req.filter)) {
      const code = this.queues.subscribe(s, req)
      // Kept with the session like any subscription (stored, in the admin views): a resumed
      // session consumes again without subscribing again (activate). `$queue/…` is never routed.
      if (typeof code === 'number') this.registry.subscribe(s, code === req.qos ? req : { ...req, qos: code })
      return code
    }
    const existing = s.subscriptions.get(req.filter)
    const max = this.options.maxSubscriptionsPerClient
    if (existing === undefined && max > 0 && s.subscriptions.size >= max) return Refusal.QuotaExceeded
    // The granted QoS may be lower than requested (MQTT 5 §3.9.3): capped at broker.max_qos.
    const qos = Math.min(req.qos, this.options.maxQos) as QoS
    const options = qos === req.qos ? req : { ...req, qos }
    this.registry.subscribe(s, options)
    return qos
  }

  deliverRetained(session: SessionHandle, requests: readonly SubscriptionOptions[], res: SubscribeResult): void {
    const s = this.registry.live(session)
    if (s === undefined) return
    const fresh = this.fresh.get(res)
    const now = this.clock.now()
    let sysRefreshed = false
    for (let i = 0; i < requests.length; i++) {
      const code = res.codes[i]
      const req = requests[i] as SubscriptionOptions
      if (typeof code !== 'number') continue
      // A queue consumer starts getting deliveries once its SUBACK is out; a queue has no retained messages.
      if (this.queues !== undefined && isQueueFilter(req.filter)) {
        this.queues.start(s, req.filter)
        continue
      }
      // [MQTT-3.3.1-11] Retain Handling 2: no retained messages on subscribe.
      if (req.retainHandling === 2) continue
      // [MQTT-3.3.1-10] Retain Handling 1: only when the subscription did not exist; [MQTT-3.3.1-9] 0: always.
      if (req.retainHandling === 1 && fresh?.[i] === false) continue
      const sub = s.subscriptions.get(req.filter)
      // MQTT 5 §4.8.2: retained messages are not sent for a Shared Subscription.
      if (sub === undefined || sub.group !== undefined) continue
      // [MQTT-4.7.2-1] Only a filter that starts with $SYS can match a $SYS topic.
      const f = sub.topicFilter
      if (!sysRefreshed && (f === '$SYS' || f.startsWith('$SYS/'))) {
        this.refreshSys(now)
        sysRefreshed = true
      }
      for (const m of this.retained.match(sub.topicFilter, now)) {
        if (sub.options.noLocal && m.publisherId === s.clientId) continue
        // Sent because of a subscription: RETAIN=1 (MQTT 5 §3.3.1.3; MQTT 3.1.1 [MQTT-3.3.1-8]).
        s.offer(m, (m.qos < sub.qos ? m.qos : sub.qos) as QoS, true, sub.ids)
      }
    }
  }

  unsubscribe(session: SessionHandle, filters: readonly string[]): boolean[] {
    const s = this.registry.live(session)
    const unsubscribed = (s: Session, filter: string): boolean => {
      if (this.queues === undefined || !isQueueFilter(filter)) return this.registry.unsubscribe(s, filter)
      const consumed = this.queues.unsubscribe(s, filter)
      return this.registry.unsubscribe(s, filter) || consumed
    }
    return filters.map((filter) => s !== undefined && unsubscribed(s, filter))
  }

  tick(now: number): void {
    if (!this.serving) return
    this.timers.runDue(now)
    const interval = this.options.retryIntervalMs
    if (interval <= 0) return
    for (const s of this.registry.connected) {
      // MQTT 5 forbids resending on a live connection [MQTT-4.4.0-1]; 3.1.1 leaves it to the server.
      if (s.protocol === 'mqtt3' && s.inflight.size > 0) s.retry(now, interval)
    }
  }

  /** Snapshot of every session on this node (admin API). */
  sessions(): SessionInfo[] {
    return [...this.registry.values()].map(sessionInfo)
  }

  /** Snapshot of one session, or undefined when this node has none for the client id. */
  session(clientId: string): SessionInfo | undefined {
    const s = this.registry.get(clientId)
    return s === undefined ? undefined : sessionInfo(s)
  }

  /**
   * Closes a client's connection from the server side (admin kick): the link gets `reason`
   * (`administrative_action` by default) and the session continues as after a lost connection, will
   * included. False when the client is not connected here.
   */
  kick(clientId: string, reason: Refusal = Refusal.AdministrativeAction): boolean {
    const s = this.registry.get(clientId)
    if (s === undefined || s.handle === undefined) return false
    this.registry.close(s, reason)
    this.logger.info({ clientId, reason }, 'client disconnected by the server')
    return true
  }

  durable(clientId?: string): Promise<void> | undefined {
    return this.storage.barrier(clientId)
  }

  countBytes(received: number, sent: number): void {
    this.stats.bytesReceived += received
    this.stats.bytesSent += sent
  }

  /** ClusterInbound: a publish another node routed here; matched locally, never forwarded again. */
  deliverLocal(message: Message): void {
    if (!this.serving) return
    this.accept(message, false, true)
  }

  /** ClusterInbound: a publish relayed for one client's session, offered to it alone. */
  deliverTo(clientId: string, message: Message, carried?: CarriedDelivery): boolean {
    const s = this.registry.get(clientId)
    if (!this.serving || s === undefined) return false
    const matched = this.router.matchOne(message.topic, message.publisherId, s)
    // A carried delivery was unsettled in the other copy: it is resent whatever the subscriptions now.
    if (!matched && carried === undefined) return true
    // Offered outside accept(): the fan-out flags of the publish being accepted, if any, are kept.
    const ctx = this.ctx
    const { wrote, backpressure } = ctx
    if (carried !== undefined) s.carry(message, carried, matched ? s.matchIds : undefined)
    else s.offer(message, (message.qos < s.matchQos ? message.qos : s.matchQos) as QoS, s.matchRetain && message.retain, s.matchIds)
    ctx.wrote = wrote || ctx.wrote
    ctx.backpressure = backpressure
    ctx.overflowing = undefined
    return true
  }

  /** ClusterInbound: a publish offered to the matching sessions `among` names, shared subscriptions aside. */
  deliverAmong(message: Message, among: (clientId: string) => boolean): string[] {
    if (!this.serving) return []
    const router = this.router
    router.matchDirect(message.topic, message.publisherId)
    const chosen = router.direct.filter((s) => among(s.clientId))
    const ctx = this.ctx
    const { wrote, backpressure } = ctx
    for (const s of chosen) s.offer(message, (message.qos < s.matchQos ? message.qos : s.matchQos) as QoS, s.matchRetain && message.retain, s.matchIds)
    ctx.wrote = wrote || ctx.wrote
    ctx.backpressure = backpressure
    ctx.overflowing = undefined
    return chosen.map((s) => s.clientId)
  }

  /** ClusterInbound: another node takes this client over under `epoch`; hand over everything and forget it here. */
  surrenderSession(clientId: string, epoch: number): Promise<TransferredSession | undefined> {
    return this.registry.surrender(clientId, epoch)
  }

  /** ClusterInbound: these sessions belong to another node now; they are no longer served here. */
  ownershipLost(clientIds: readonly string[]): StoredSession[] {
    return clientIds.flatMap((id) => this.registry.lose(id) ?? [])
  }

  /** ClusterInbound: a persistent session claimed here for a client connected nowhere, held offline. */
  holdSession(epoch: number, state: HeldState): boolean {
    if (!this.serving) return false
    return this.registry.hold(epoch, state, this.clock.now())
  }

  /** Every `sysIntervalMs`: the `$SYS` snapshot, retained (memory only) and routed to its subscribers. */
  private publishSys(now: number): void {
    if (this.state !== 'running') return
    this.sysLoad.update(this.stats, now)
    for (const message of this.sysSnapshot(now)) {
      this.retained.apply(message, false)
      this.route(message)
    }
    this.timers.add(now + this.options.sysIntervalMs, (t) => this.publishSys(t))
  }

  /**
   * A new `$SYS` subscription would otherwise get the retained snapshot of the last interval, up to
   * `sysIntervalMs` old (`clients/connected` taken before this client connected): the retained
   * values are brought up to date first. Not routed: the subscribers already there keep their period.
   * The load averages move on the interval only.
   */
  private refreshSys(now: number): void {
    if (this.options.sysIntervalMs === 0) return
    for (const message of this.sysSnapshot(now)) this.retained.apply(message, false)
  }

  private sysSnapshot(now: number): Message[] {
    const uptime = Math.floor((now - this.startedAt) / 1000)
    const topics = sysTopics(this.stats, this.options.version, uptime).concat(this.sysLoad.topics())
    return topics.map(([topic, value]) => ({
      topic,
      payload: Buffer.from(value),
      qos: 0,
      retain: true,
      properties: {},
      publishedAt: now,
    }))
  }
}
