import { setTimeout as sleep } from 'node:timers/promises'
import type { Cluster, ClusterInbound, Logger, Message, SessionClaim, Storage, StoredClaim, StoredOwnership, StoredSession } from '@fluxmq/core'
import type { NodeLease, ObservedOwnership, RouteTable, SavedSessionEntry, SessionClaimResult, SessionOwner, SessionOwnership, SubscriptionStore, WillIndex } from '@fluxmq/cluster-etcd'
import type { ForwardRouting, InboundBatch, InboundHandlers, LostSession, Peer, PeerSet, SurrenderedSession } from '@fluxmq/cluster-transport'
import { topicMatches, unshared } from '@fluxmq/topic'
import { ClusterNodeError, ClusterNodeErrorCode } from './errors.js'
import { orphanSession } from './orphan-session.js'
import type { QuorumGuard } from './quorum-guard.js'
import { RemoteRoutes } from './remote-routes.js'
import type { RetainedSync } from './retained-sync.js'
import { ReturningSessions } from './returning-sessions.js'
import { SessionMirror } from './session-mirror.js'
import { SessionMoves, heldNotTransferred } from './session-moves.js'
import { SharedPlacement } from './shared-placement.js'
import { UnattendedResends } from './unattended-resends.js'
import { UNREACHABLE, unlessUnreachable } from './unreachable-owner.js'
import { VanishedRoutes } from './vanished-routes.js'

export interface EtcdClusterOptions {
  readonly nodeId: string
  readonly lease: NodeLease
  readonly ownership: SessionOwnership
  /** Started by the caller: its view is complete before the broker routes anything. */
  readonly routes: RouteTable
  readonly peers: PeerSet
  /** The ids of every registered node (this one may be among them). */
  readonly members: () => Iterable<string>
  /**
   * Resolves once everything the local broker staged so far is durable (the storage's sync): a
   * forwarded batch is acknowledged after it, so the sender's PUBACK promises what a local one does.
   */
  readonly sync: () => Promise<void>
  /** The cluster's retained messages in etcd: written on every retained publish of this node. */
  readonly retained: RetainedSync
  /** Persistent sessions' subscriptions and wills in etcd, for a node that resumes them after this one died. */
  readonly subscriptions: SubscriptionStore
  readonly wills: WillIndex
  /** Whether etcd has quorum: without it no new session is claimed. */
  readonly quorum: QuorumGuard
  /**
   * Whether a batch `node` forwarded with its routing count `routed` was routed under a
   * registration of that node that has ended (NodeRegistry.routedUnderEndedRegistration).
   */
  readonly routedUnderEndedRegistration: (node: string, routed: number) => boolean
  readonly logger: Logger
}

/** How long a takeover waits for the previous owner to appear in the membership, and how often it looks. */
const PEER_WAIT_MS = 2_000
const PEER_POLL_MS = 25

/** How long a takeover waits for the old owner to acknowledge what this node forwarded to it before. */
const DRAIN_WAIT_MS = 2_000
/** How long a client's claim here waits for this node's hand-on of its copy to the current owner. */
const HAND_ON_WAIT_MS = 5_000

/** How many sessions are claimed at once (stored ones at start-up, adopted, held again; each is a read and a transaction). */
const CLAIM_CONCURRENCY = 64
/** How soon a node that got its lease back asks etcd again for the owners of the sessions it lost. */
const LOST_RETRY_MS = 1_000
/**
 * How long a forwarded batch waits for the sessions lost with the lease to be settled after the
 * grant (held here again or handed on), so that it finds them; then it is routed as it is.
 */
const SETTLE_WAIT_MS = 2_000
/** Bounds of the backoff between tries to give a will up while etcd does not answer. */
const WILL_RETRY_MIN_MS = 100
const WILL_RETRY_MAX_MS = 1_000

/** Milliseconds between two `performance.now()` readings, to the microsecond (for the logs). */
function elapsedMs(from: number, to: number): number {
  return Math.round((to - from) * 1000) / 1000
}

/**
 * The core's `Cluster` seam on the metadata plane (etcd: ownership, routes, lease) and the data
 * plane (Connect peers). It holds no state of its own beyond the epochs of the sessions this node
 * owns (for release and lease loss) and the trie of the other nodes' routes.
 */
export class EtcdCluster implements Cluster {
  readonly nodeId: string
  /** Inbound requests of the peers, served by this node's TransportServer. */
  readonly handlers: InboundHandlers
  private inbound: ClusterInbound | undefined
  private markAttached!: () => void
  /** Resolves once the core attached (it never detaches before; after, nothing waits for it). */
  private readonly attached = new Promise<void>((resolve) => (this.markAttached = resolve))
  private readonly remote: RemoteRoutes
  private readonly shared: SharedPlacement
  private readonly moves: SessionMoves
  /** Sends wills again to the sessions of the nodes that refused them. */
  private readonly resends: UnattendedResends
  /** Client id → epoch of every session this node owns. */
  private readonly owned = new Map<string, number>()
  private readonly log: Logger
  private readonly unsubscribe: (() => void)[] = []
  private readonly takeoverListeners = new Set<(tookMs: number) => void>()
  /** Node → QoS 0 messages dropped since its peer went over its memory bound. */
  private readonly shed = new Map<string, number>()
  /**
   * The routing sequence (InboundBatch.seqs): one per publish this node forwards, the same for
   * every node it goes to, and one per other send. Counted from the start time in µs, so the next
   * life of this node continues above it.
   */
  private routeSeq = Date.now() * 1_000
  /** `routeSeq` when this node last lost its lease: what it forwarded up to there is stale (LostSession). */
  private lostRoutingAt: number | undefined
  /** Per node, the routing sequence up to which its forwards are stale (it said so: LostSession). */
  private readonly staleUpTo = new Map<string, number>()
  /** Senders whose batches were refused as routed under an ended registration, until one is accepted (logged once). */
  private readonly refusingStale = new Set<string>()
  /**
   * Client id → settles once this node's claim of it is attached here (or failed). A newer claim's
   * surrender request waits for it, so the state this node is still fetching goes on to the newer owner.
   */
  private readonly attaching = new Map<string, Promise<void>>()
  /** A dead node's routes, until they are routed again (adoption): QoS 1/2 publishes matching them wait. */
  private readonly vanishedRoutes = new VanishedRoutes()
  /** Client id → the answer of a will being given up in etcd (takeWill), until it came. */
  private readonly willsGivingUp = new Map<string, Promise<boolean>>()
  /** Client id → the newer claim a will being given up is fenced by: its session was held here again meanwhile. */
  private readonly willEpochs = new Map<string, number>()
  /** Client id → the node still holding its state after a takeover that failed. */
  private readonly unfinished = new Map<string, string>()
  private mirror: SessionMirror | undefined
  /** Hands on what this node had queued for stored sessions that other nodes own now (made on first use). */
  private returning: ReturningSessions | undefined
  /** Stored sessions this node stopped serving when it lost its lease, until it holds one again. */
  private readonly lostWithLease = new Map<string, StoredSession>()
  private lostRetry: NodeJS.Timeout | undefined
  /**
   * Filter → how many sessions lost with the lease still keep its route here: their routes stay
   * (re-written on the next lease) until each session is held here again or handed on, so a
   * publish for them keeps coming here meanwhile (refused while the lease is lost, then routed
   * to the session held again) instead of reaching nobody.
   */
  private readonly keptRoutes = new Map<string, number>()
  /** Route removals the core asks for while it drops the sessions lost with the lease (decided after). */
  private removalsOnLoss: Set<string> | undefined
  /**
   * One settling of the sessions lost with the lease, after a grant: `done` once each is held
   * again or handed on; `handedOn`, the filters of those handed on to another owner.
   */
  private settlingLost: { readonly done: Promise<void>; readonly handedOn: string[] } | undefined
  /** A grant or retry came while a settling ran: settle again after it. */
  private settleAgain = false

  constructor(private readonly options: EtcdClusterOptions) {
    this.nodeId = options.nodeId
    this.log = options.logger.child({ component: 'cluster', nodeId: options.nodeId })
    this.shared = new SharedPlacement(options.nodeId, options.routes)
    this.remote = new RemoteRoutes(options.nodeId, this.shared)
    for (const [filter, nodes] of options.routes.filters) for (const nodeId of nodes) this.remote.apply({ type: 'added', filter, nodeId })
    this.unsubscribe.push(
      options.routes.onChange((change) => {
        this.remote.apply(change)
        this.shared.changed(change.filter)
        if (change.type === 'added') this.vanishedRoutes.routeAdded(change.filter)
        else if (change.nodeId !== this.nodeId) this.vanishedRoutes.routeRemoved(change.nodeId, change.filter)
      }),
    )
    this.unsubscribe.push(options.lease.onLost((err) => this.leaseLost(err)))
    this.unsubscribe.push(options.lease.onGranted(() => this.handOnLost()))
    this.moves = new SessionMoves({
      nodeId: options.nodeId,
      routes: options.routes,
      send: (node, message, routing) => this.sendTo(node, message, routing),
      addRoute: (filter) => this.addRoute(filter),
      removeRoute: (filter) => this.removeRouteNow(filter),
      logger: this.log,
    })
    this.resends = new UnattendedResends({
      targets: (message) => this.remote.nodesFor(message.topic, message),
      send: (node, message, routing, seq) => this.sendTo(node, message, routing, seq),
      cameFrom: (clientId, nodes, after) => this.moves.cameFrom(clientId, nodes, after),
      gaveHeld: (message, clientId) => this.moves.gaveHeld(message, clientId),
      deliverAmong: (message, among) => this.inbound?.deliverAmong(message, among) ?? [],
      logger: this.log,
    })
    this.handlers = {
      publishBatch: (batch) => this.receive(batch),
      takeOver: (request) => this.surrender(request.clientId, request.epoch, request.requesterNode),
      // Wills are not indexed yet: only retained payloads are held here.
      fetchPayload: (request) => (request.kind === 'retained' ? this.options.retained.fetch(request.key) : undefined),
    }
  }

  /** How many sessions this node owns (a leaving node waits for them to move). */
  get ownedSessions(): number {
    return this.owned.size
  }

  attach(inbound: ClusterInbound): void {
    this.inbound = inbound
    this.markAttached()
  }

  /** Stops following routes and the lease; the etcd keys go with the lease. */
  detach(): void {
    this.inbound = undefined
    this.vanishedRoutes.close()
    this.moves.close()
    this.resends.close()
    this.returning?.close()
    clearTimeout(this.lostRetry)
    for (const stop of this.unsubscribe.splice(0)) stop()
  }

  /**
   * The broker's storage with its persistent sessions mirrored into etcd (subscriptions, pending
   * wills): give the broker this one, so its sessions survive this node's death.
   */
  mirrorSessions(storage: Storage): Storage {
    const { subscriptions, wills, ownership, nodeId } = this.options
    this.mirror = new SessionMirror(storage, { nodeId, subscriptions, wills, ownership, logger: this.log })
    return this.mirror
  }

  /**
   * Publishes a will of a dead node's client (the leader's task): to the other nodes and to the
   * local subscriptions, as a publish of this node.
   */
  publishOrphanWill(message: Message): void {
    const inbound = this.requireInbound()
    this.forward(message, true)?.catch((err: unknown) => this.log.error({ err, topic: message.topic }, 'will of a dead node not accepted by another node'))
    inbound.deliverLocal(message)
  }

  /**
   * `node`'s registration vanished without a graceful leave (its lease ended): until the leader
   * adopted its persistent sessions and their routes are back, QoS 1/2 publishes for them wait
   * (`routesSettling`) instead of reaching nobody.
   */
  nodeDied(node: string): void {
    this.vanishedRoutes.nodeDied(node)
  }

  routesSettling(topic: string): Promise<void> | undefined {
    return this.vanishedRoutes.settling(topic)
  }

  /**
   * Gives the will of a session this node owns at `epoch` up in etcd before the broker publishes
   * it (WillIndex.giveUp): from then on no leader publishes it for a death of this node it saw.
   * While etcd does not answer (this node cut off, etcd without quorum) it tries again, since the
   * answer decides: once this node's lease lapsed and the leader adopted the session, the will is
   * the leader's. A session released meanwhile waits for the answer (`releaseSession`).
   */
  takeWill(clientId: string, epoch: number): Promise<boolean> {
    const taking = this.giveUpWill(clientId, epoch)
    this.willsGivingUp.set(clientId, taking)
    const settled = (): void => {
      if (this.willsGivingUp.get(clientId) !== taking) return
      this.willsGivingUp.delete(clientId)
      this.willEpochs.delete(clientId)
    }
    taking.then(settled, settled)
    return taking
  }

  private async giveUpWill(clientId: string, epoch: number): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      // Detached: the node stopped; the will stays in etcd, where the leader finds it.
      if (this.inbound === undefined) return false
      const fence = this.willEpochs.get(clientId) ?? epoch
      try {
        if (await this.options.wills.giveUp(clientId, this.options.ownership.fenced(clientId, fence))) return true
        // Held here again meanwhile under a newer claim, the will still this node's (settleLost):
        // asked again under that claim.
        if ((this.willEpochs.get(clientId) ?? epoch) === fence) return false
      } catch (err) {
        if (attempt === 0) this.log.warn({ err, clientId, epoch }, 'will not given up in etcd yet; retrying until etcd answers')
        await sleep(Math.min(WILL_RETRY_MAX_MS, WILL_RETRY_MIN_MS * 2 ** attempt))
      }
    }
  }

  /**
   * The stored sessions no other node serves are claimed here. Whether a stored pending will is
   * still this node's: the leader takes a dead node's will only while no node owns the session
   * (its key expired with the lease), and from this claim on leaves it to this node (LeaderTasks).
   * So it is this node's when the session key read before the claim was still this node's (the
   * old lease alive: nobody can have taken it; etcd may even lack it, when the node died between
   * storing it and mirroring it), or else when the claim's transaction found it in etcd as this
   * node wrote it. Absent then, the leader took it, or it never reached etcd: it is dropped.
   */
  async claimStored(sessions: readonly StoredClaim[]): Promise<ReadonlyMap<string, StoredOwnership>> {
    const owned = new Map<string, StoredOwnership>()
    const others = new Map<string, SessionOwner>()
    for (let i = 0; i < sessions.length; i += CLAIM_CONCURRENCY) {
      await Promise.all(
        sessions.slice(i, i + CLAIM_CONCURRENCY).map(async ({ clientId, epoch, will }) => {
          const observed = await this.options.ownership.read(clientId)
          // A live key of another node: that node serves the session now (its lease is alive).
          if (observed.owner !== undefined && observed.owner.node !== this.nodeId) {
            others.set(clientId, observed.owner)
            return
          }
          const attempt = await this.options.ownership.tryClaim(clientId, observed)
          if (!attempt.won) return
          const { claim } = attempt
          const stillOurs = observed.owner?.node === this.nodeId || (claim.will?.node === this.nodeId && claim.will.epoch === epoch)
          const willHandled = will && !stillOurs
          owned.set(clientId, { epoch: claim.epoch, willHandled })
          this.owned.set(clientId, claim.epoch)
        }),
      )
    }
    this.log.info({ stored: sessions.length, owned: owned.size, ownedElsewhere: others.size }, 'stored sessions claimed')
    this.handOnStored(others)
    return owned
  }

  /**
   * A node that returns with its data: what it had queued for the sessions other nodes own now
   * goes to them, in the background (the peers are known only after join), and is then deleted here.
   */
  private handOnStored(others: ReadonlyMap<string, SessionOwner>): void {
    const mirror = this.mirror
    if (mirror === undefined) return
    const disowned = mirror.disown(others.keys())
    for (const stored of disowned) this.handOn(mirror, stored, others.get(stored.session.clientId) as SessionOwner)
  }

  /**
   * What this node kept of a session `owner` holds now goes there: what it had queued, and what it
   * still routes for it (a forward sent here before the session moved, sent again once this node
   * could be reached: without the relay it matched nothing here and was acknowledged all the same).
   */
  private handOn(mirror: SessionMirror, stored: StoredSession, owner: SessionOwner): void {
    this.moves.handedOn(stored.session.clientId, owner.node, owner.epoch, stored.subscriptions.map((s) => s.filter))
    this.returningSessions(mirror).handOn(stored, owner)
  }

  private returningSessions(storage: SessionMirror): ReturningSessions {
    this.returning ??= new ReturningSessions({
      nodeId: this.nodeId,
      ownership: this.options.ownership,
      storage,
      // At start-up the hand-on begins as the membership is loaded: the owner's peer may be a moment away.
      send: (node, message, routing) => this.peerOf(node).then(() => this.sendTo(node, message, routing)),
      logger: this.log,
    })
    return this.returning
  }

  /**
   * A lease again after losing one: each session this node stopped serving then is held here
   * again, offline, from what its storage kept (queue included), when no node claimed it
   * meanwhile (its client is still reconnecting, or still connected to this frozen node's socket
   * and about to time out); it goes on to its next owner by the ordinary takeover. One another
   * node claimed gets what this node kept handed on (as a returning node's does). Until then
   * forwarded publishes wait (`receive`), and the routes of those sessions stayed, so a publish
   * for them reaches them. Without this they reached nobody from the lease's expiry until the
   * client was claimed elsewhere.
   */
  private handOnLost(): void {
    const mirror = this.mirror
    if (mirror === undefined || this.lostWithLease.size === 0) return
    if (this.settlingLost !== undefined) {
      this.settleAgain = true
      return
    }
    const started = performance.now()
    const lost = [...this.lostWithLease.values()]
    const handedOn: string[] = []
    const done = this.inBatches(lost, (stored) => this.settleLost(mirror, stored, handedOn)).then(() => {
      this.log.info({ sessions: lost.length, handedOn: handedOn.length, tookMs: Math.round(performance.now() - started) }, 'sessions lost with the lease settled')
    })
    const settling = { done, handedOn }
    this.settlingLost = settling
    void done.finally(() => {
      if (this.settlingLost !== settling) return
      this.settlingLost = undefined
      if (!this.settleAgain) return
      this.settleAgain = false
      this.handOnLost()
    })
  }

  private async settleLost(mirror: SessionMirror, stored: StoredSession, handedOn: string[]): Promise<void> {
    const clientId = stored.session.clientId
    try {
      const observed = await this.options.ownership.read(clientId)
      // Lost again meanwhile: the next grant settles it.
      if (this.lostWithLease.get(clientId) !== stored || this.options.lease.id === undefined) return
      let owner: SessionOwner | undefined = observed.owner
      // This node's own key of the lost ownership, on the previous lease (revoked shortly after the grant).
      const stale = owner?.node === this.nodeId && this.owned.get(clientId) !== owner.epoch
      if (owner === undefined || stale) {
        const held = await this.holdClaimed(clientId, observed, false, (claim) => {
          // The leader takes a will only while no node owns the session: with this node's old key
          // still there, or the will still in etcd as this node wrote it, nobody took it.
          const willMine = stale || (claim.will?.node === this.nodeId && claim.will.epoch === stored.session.epoch)
          if (this.inbound?.holdSession(claim.epoch, { stored, willHandled: !willMine }) !== true) return false
          mirror.restored(stored)
          if (willMine && this.willsGivingUp.has(clientId)) this.willEpochs.set(clientId, claim.epoch)
          return true
        })
        if (held === 'held' || held === 'declined') {
          // Declined: a session of that client is here already (it came back here).
          this.lostWithLease.delete(clientId)
          this.releaseKept(stored)
          return
        }
        owner = held.owner
      }
      if (this.lostWithLease.get(clientId) !== stored) return
      if (owner === undefined) {
        this.retryLost()
        return
      }
      this.lostWithLease.delete(clientId)
      this.releaseKept(stored)
      if (owner.node !== this.nodeId) {
        for (const { filter } of stored.subscriptions) handedOn.push(unshared(filter))
        this.handOn(mirror, stored, owner)
      } else this.log.info({ clientId }, 'session lost with the lease came back here; its copy stays in storage')
    } catch (err) {
      // etcd still recovering right after the grant (its client's breaker open).
      this.log.warn({ err, clientId, retryMs: LOST_RETRY_MS }, 'session lost with the lease not settled; retrying')
      this.retryLost()
    }
  }

  /** Settles the sessions lost with the lease again shortly while the lease holds, else at the next grant. */
  private retryLost(): void {
    if (this.lostRetry !== undefined || this.options.lease.id === undefined) return
    this.lostRetry = setTimeout(() => {
      this.lostRetry = undefined
      this.handOnLost()
    }, LOST_RETRY_MS)
  }

  /** The routes a session lost with the lease kept here go, once it is held again or handed on. */
  private releaseKept(stored: StoredSession): void {
    for (const { filter } of stored.subscriptions) {
      const left = (this.keptRoutes.get(filter) ?? 0) - 1
      if (left > 0) {
        this.keptRoutes.set(filter, left)
        continue
      }
      if (!this.keptRoutes.delete(filter)) continue
      this.removeRouteNow(filter)
    }
  }

  /**
   * The leader's adoption (SPEC §6, LeaderTasks): the persistent sessions a dead node owned,
   * found in `subs/`, are claimed here (the fenced claim a connecting client makes, marked as an
   * adoption so their wills stay due) and held offline with the subscriptions etcd saved, until
   * their clients come back anywhere and take them over. Their routes come back under this
   * node's lease, so publishes for them are queued here instead of reaching nobody. A session
   * some node owns already (its client came back, another leader adopted it) is left alone.
   * Resolves with the sessions still owned by a node that is not registered (its lease about to
   * expire, as after a graceful leave): to be looked at again.
   */
  async adoptOrphans(clientIds: readonly string[], isMember: (nodeId: string) => boolean): Promise<string[]> {
    const started = performance.now()
    let adopted = 0
    const pending: string[] = []
    await this.inBatches(clientIds, async (clientId) => {
      const observed = await this.options.ownership.read(clientId)
      if (observed.owner !== undefined) {
        if (!isMember(observed.owner.node)) pending.push(clientId)
        return
      }
      const held = await this.holdClaimed(clientId, observed, true, ({ epoch, saved }) => {
        const transferred = orphanSession(saved, clientId, epoch)
        return transferred !== undefined && this.inbound?.holdSession(epoch, { transferred }) === true
      })
      if (held === 'held') adopted++
    })
    if (adopted > 0) this.log.info({ sessions: adopted, tookMs: Math.round(performance.now() - started) }, 'sessions of dead nodes adopted, held here offline')
    return pending
  }

  /**
   * One fenced claim of a session connected nowhere, held here by `hold` once won (a surrender
   * request for it meanwhile waits, as for a claim being attached): 'held', or the owner that won
   * the race instead. A claim `hold` declines (etcd saved nothing to hold, a session of that
   * client is here already) is released again: 'declined'.
   */
  private async holdClaimed(
    clientId: string,
    observed: ObservedOwnership,
    adopting: boolean,
    hold: (claim: SessionClaimResult) => boolean,
  ): Promise<'held' | 'declined' | { readonly owner: SessionOwner | undefined }> {
    let attached!: () => void
    const attaching = new Promise<void>((resolve) => (attached = resolve))
    this.attaching.set(clientId, attaching)
    try {
      const attempt = await this.options.ownership.tryClaim(clientId, observed, adopting)
      if (!attempt.won) return { owner: attempt.current.owner }
      const { epoch, saved } = attempt.claim
      if (!hold(attempt.claim)) {
        // Fenced by this claim's epoch: a session held here under another claim keeps its key.
        this.options.ownership.release(clientId, epoch).catch((err: unknown) => this.log.warn({ err, clientId, epoch }, 'declined claim not released; the key goes with the node lease'))
        return 'declined'
      }
      this.moves.claimedHere(clientId, observed.owner?.node ?? saved?.node)
      this.owned.set(clientId, epoch)
      return 'held'
    } finally {
      if (this.attaching.get(clientId) === attaching) this.attaching.delete(clientId)
      attached()
    }
  }

  /** Runs `task` over `items`, `CLAIM_CONCURRENCY` at a time. */
  private async inBatches<T>(items: readonly T[], task: (item: T) => Promise<void>): Promise<void> {
    for (let i = 0; i < items.length; i += CLAIM_CONCURRENCY) await Promise.all(items.slice(i, i + CLAIM_CONCURRENCY).map(task))
  }

  async acquireSession(clientId: string): Promise<SessionClaim> {
    let attached!: () => void
    const attaching = new Promise<void>((resolve) => (attached = resolve))
    this.attaching.set(clientId, attaching)
    const done = (): void => {
      if (this.attaching.get(clientId) === attaching) this.attaching.delete(clientId)
      attached()
    }
    let claim: SessionClaim
    try {
      claim = await this.claimAndTakeOver(clientId)
    } catch (err) {
      done()
      throw err
    }
    // The core attaches the session in this call's continuation: by the next turn it is there.
    setImmediate(done)
    return claim
  }

  private async claimAndTakeOver(clientId: string): Promise<SessionClaim> {
    const started = performance.now()
    // Refused at once, not after a call deadline: the CONNECT gets Server unavailable.
    if (!this.options.quorum.quorate) throw new ClusterNodeError(ClusterNodeErrorCode.NoQuorum, `etcd has no quorum, session ${clientId} not claimed`)
    // A client back at a returning node whose copy is being handed on to the session's owner (the
    // leader that adopted it, say): claimed once the owner has it all, the takeover brings it all
    // here. Claimed first, the hand-on stopped half-way and left the rest in storage.
    const handing = this.returning?.handingOn(clientId)
    if (handing !== undefined) await Promise.race([handing, sleep(HAND_ON_WAIT_MS)])
    const { epoch, previousNode, saved } = await this.options.ownership.claim(clientId)
    const claimed = performance.now()
    this.owned.set(clientId, epoch)
    // A takeover that failed left the claim here and the state there: this claim asks again.
    const from = previousNode !== undefined && previousNode !== this.nodeId ? previousNode : this.unfinished.get(clientId)
    if (from === undefined) {
      this.moves.claimedHere(clientId, previousNode ?? saved?.node)
      // No key before this claim: no live owner, so a state saved in etcd is all that is left of it.
      return previousNode === undefined ? this.resumeOrphan(clientId, epoch, undefined, saved) : { epoch }
    }
    const peer = await this.peerOf(from)
    if (peer === undefined) {
      // Its session key outlived its registration: a node leaving (its broker already stopped) or dead.
      this.unfinished.delete(clientId)
      this.moves.claimedHere(clientId, from)
      return this.resumeOrphan(clientId, epoch, from, saved)
    }
    const window = this.moves.beginAcquire(clientId, from, (saved?.subscriptions ?? []).map((s) => s.filter))
    let surrendered: SurrenderedSession | undefined
    let drained = claimed
    try {
      const asked = await unlessUnreachable(
        peer,
        () => new Set(this.options.members()).has(from),
        async () => {
          // What this node sent the old owner before holding its sends reaches it before the takeover
          // request: routed there before the surrender, so it is in the state and not held here too.
          const settled = await Promise.race([peer.drained().then(() => true), sleep(DRAIN_WAIT_MS).then(() => false)])
          if (!settled) this.log.warn({ clientId, epoch, previousNode: from, waitedMs: DRAIN_WAIT_MS }, 'old owner did not acknowledge earlier forwards; taking over without waiting for them')
          drained = performance.now()
          return peer.takeOver({ clientId, epoch })
        },
        (late) => {
          if (late === undefined) return
          // Late, its answer that it lost its lease still says which of its batches are stale.
          if ('lost' in late) this.staleRoutingOf(from, late.routedUpTo)
          else this.log.error({ clientId, epoch, previousNode: from }, 'previous owner surrendered after the takeover gave up on it; its state is dropped')
        },
      )
      if (asked === UNREACHABLE) {
        this.unfinished.delete(clientId)
        this.moves.claimedHere(clientId)
        this.log.warn({ clientId, epoch, previousNode: from, waitedMs: Math.round(performance.now() - claimed) }, 'previous owner unreachable, session resumes from etcd')
        return this.resumeHolding(clientId, epoch, from, saved, window)
      }
      if (asked !== undefined && 'lost' in asked) {
        this.staleRoutingOf(from, asked.routedUpTo)
        this.moves.forgetStale(from, asked.routedUpTo)
      } else surrendered = asked
    } catch (err) {
      window.abandon()
      // The claim stays in etcd (it fences the old owner); the next CONNECT of this client here
      // asks the old owner again under a newer epoch.
      this.unfinished.set(clientId, from)
      this.owned.delete(clientId)
      this.log.warn({ err, clientId, epoch, previousNode: from }, 'session takeover failed')
      throw err
    }
    this.unfinished.delete(clientId)
    const now = performance.now()
    const tookMs = elapsedMs(started, now)
    // Where the time went: the etcd claim, the sends to the old owner drained, the state fetched.
    const split = { claimMs: elapsedMs(started, claimed), drainMs: elapsedMs(claimed, drained), stateMs: elapsedMs(drained, now) }
    this.log.info({ clientId, epoch, previousNode: from, tookMs, ...split, state: surrendered !== undefined }, 'session taken over')
    for (const listener of this.takeoverListeners) listener(tookMs)
    if (surrendered === undefined) {
      // The old owner no longer holds the session while its key lives on: it stopped serving it
      // when it could not renew its lease, yet etcd kept the lease (a partition shorter than the
      // TTL). What etcd saved is what is left of it, as for a dead owner.
      return this.resumeHolding(clientId, epoch, from, saved, window)
    }
    // The core attaches the state in this call's continuation and takes the held publishes then;
    // a claim it refuses (stale, shutting down) lets them go after this turn.
    setImmediate(window.abandon)
    const transferred = surrendered.transferred
    return { epoch, transferred, held: () => heldNotTransferred(window.held(), transferred) }
  }

  /**
   * A takeover that got no state resumes from etcd, with what this node routed for the client
   * meanwhile: those publishes were acknowledged to their publishers and reached no other copy of
   * the session, so dropping them (as before) lost them. Ends the holding like a takeover with state.
   */
  private resumeHolding(
    clientId: string,
    epoch: number,
    from: string,
    saved: SavedSessionEntry | undefined,
    window: { readonly held: () => readonly Message[]; readonly abandon: () => void },
  ): SessionClaim {
    let resumed: SessionClaim
    try {
      resumed = this.resumeOrphan(clientId, epoch, from, saved)
    } catch (err) {
      window.abandon()
      throw err
    }
    // The core takes the held publishes in this call's continuation; a claim it refuses lets them go after this turn.
    setImmediate(window.abandon)
    return { ...resumed, held: window.held }
  }

  /**
   * A claim with no live previous owner: the session of a node that died (or of this node before
   * it lost its lease) resumes with the subscriptions saved in etcd (read with the claim); a new
   * client id has none.
   */
  private resumeOrphan(clientId: string, epoch: number, previousNode: string | undefined, saved: SavedSessionEntry | undefined): SessionClaim {
    const transferred = orphanSession(saved, clientId, epoch)
    if (transferred === undefined) {
      if (previousNode !== undefined) this.log.info({ clientId, epoch, previousNode }, 'previous owner holds no state and etcd saved none, session starts empty')
      return { epoch }
    }
    this.log.info({ clientId, epoch, previousNode, savedEpoch: transferred.session.epoch, subscriptions: transferred.subscriptions.length }, 'session resumed from etcd')
    return { epoch, transferred }
  }

  /**
   * The peer of a node that owned a session. Its session key was alive, so its registration is
   * too, unless it is leaving; the registry's watch may lag the claim by a moment, so wait a little.
   */
  private async peerOf(node: string): Promise<Peer | undefined> {
    const deadline = performance.now() + PEER_WAIT_MS
    for (;;) {
      const peer = this.options.peers.get(node)
      if (peer !== undefined || performance.now() >= deadline) return peer
      await sleep(PEER_POLL_MS)
    }
  }

  /** Every takeover from another node, with the milliseconds from claim to state (for metrics). */
  onTakeover(listener: (tookMs: number) => void): () => void {
    this.takeoverListeners.add(listener)
    return () => this.takeoverListeners.delete(listener)
  }

  releaseSession(clientId: string): void {
    this.moves.left(clientId)
    const epoch = this.owned.get(clientId)
    if (epoch === undefined) return
    this.owned.delete(clientId)
    const release = (): void => {
      this.options.ownership.release(clientId, epoch, true).then(
        (released) => {
          if (!released) this.log.info({ clientId, epoch }, 'session released after another node claimed it')
        },
        (err: unknown) => this.log.warn({ err, clientId, epoch }, 'session release failed; the key goes with the node lease'),
      )
    }
    // Its will is given up first: released before, the ownership no longer fences that.
    const givingUp = this.willsGivingUp.get(clientId)
    if (givingUp === undefined) release()
    else givingUp.then(release, release)
  }

  addRoute(filter: string): void {
    // Held here (the leader's adoption of a dead node's session): routed locally from now on.
    this.vanishedRoutes.routeAdded(filter)
    // The first add rejects when its write failed; RouteTable retries it by itself.
    this.options.routes.add(filter).catch((err: unknown) => this.log.warn({ err, filter }, 'route not yet in etcd'))
  }

  removeRoute(filter: string): void {
    if (this.removalsOnLoss !== undefined) {
      this.removalsOnLoss.add(filter)
      return
    }
    // During a surrender the removal waits: a moved session's route stays until its new owner's shows.
    if (!this.moves.removeRoute(filter)) this.removeRouteNow(filter)
  }

  private removeRouteNow(filter: string): void {
    this.options.routes.remove(filter).catch((err: unknown) => this.log.warn({ err, filter }, 'route removal not yet in etcd'))
  }

  /**
   * Once per publish: to every other node whose routes match, or, for a retained message
   * (clearing ones included), to every other node and to etcd, so each node's retained store
   * stays whole and a subscriber anywhere gets it on SUBSCRIBE.
   */
  forward(message: Message, unattended = false): Promise<void> | undefined {
    if (message.retain) {
      // Accepted once every node has it and etcd keeps it for the nodes that join later.
      const accepted = [this.options.retained.record(message)]
      const others = this.otherMembers()
      const seq = ++this.routeSeq
      for (const node of others) accepted.push(this.sendTo(node, message, undefined, seq))
      const relayed = this.moves.active ? this.moves.routed(message, [this.nodeId, ...others]) : undefined
      if (relayed !== undefined) accepted.push(relayed)
      return Promise.all(accepted).then(() => undefined)
    }
    const targets = this.remote.nodesFor(message.topic, message)
    const relayed = this.moves.active ? this.moves.routed(message, targets === undefined ? [this.nodeId] : [this.nodeId, ...targets]) : undefined
    if (targets === undefined) return relayed
    if (targets.size === 1 && relayed === undefined && !unattended) for (const node of targets) return this.sendTo(node, message, undefined)
    const accepted: Promise<void>[] = relayed === undefined ? [] : [relayed]
    const sends = unattended ? new Map<string, Promise<void>>() : undefined
    // Each node learns which others route the publish too: one holding a moved session relays
    // only what the session's new owner does not get by itself.
    const seq = ++this.routeSeq
    for (const node of targets) {
      const sent = this.sendTo(node, message, targets.size === 1 ? undefined : { otherNodes: [...targets].filter((n) => n !== node) }, seq)
      if (sends === undefined) accepted.push(sent)
      else sends.set(node, sent)
    }
    if (sends !== undefined) accepted.push(this.resends.watch(message, seq, this.moves.arrivals, sends))
    return Promise.all(accepted).then(() => undefined)
  }

  /**
   * Stores every retained message of the cluster in the local broker (through deliverLocal, which
   * also routes it to matching local subscriptions: call it before clients are served).
   */
  async loadRetained(): Promise<number> {
    const inbound = this.requireInbound()
    return this.options.retained.load((message) => inbound.deliverLocal(message))
  }

  servesShared(filter: string, message: Message): boolean {
    return this.shared.serves(filter, message)
  }

  /**
   * `arrivals`: SessionMoves.arrivals when this node routed the message, kept while the send waits
   * for the peer's memory bound; a send held for an acquisition goes with the count at its release.
   * `seq`: its routing sequence, given once per publish (the same to every node).
   */
  private sendTo(node: string, message: Message, routing: ForwardRouting | undefined, seq = ++this.routeSeq, arrivals = this.moves.arrivals): Promise<void> {
    if (this.moves.holding(node)) {
      // This node is acquiring a session from that one: sent, in order, once the state is here.
      const routed = routing?.relayFor === undefined ? message : undefined
      return new Promise((resolve, reject) => this.moves.hold(node, (released) => this.sendTo(node, message, routing, seq, released).then(resolve, reject), routed))
    }
    const peer = this.options.peers.get(node)
    if (peer === undefined) return Promise.reject(new ClusterNodeError(ClusterNodeErrorCode.NoPeer, `no transport peer for node ${node}`))
    const accepted = peer.forward(message, routing, arrivals, seq)
    if (accepted !== false) return accepted
    // [MQTT-4.3.1] QoS 0 is at most once and nobody waits for it: held here, every publish to a
    // stuck node would add to memory. Beyond the peer's bound it is dropped.
    if (message.qos === 0) {
      this.shedQos0(node, peer)
      return Promise.resolve()
    }
    // QoS 1/2 waits here until half of the bound is free again: its publisher waits for the
    // PUBACK, so what waits is bounded by the publishers' windows.
    return peer.ready().then(() => this.sendTo(node, message, routing, seq, arrivals))
  }

  /** Counts a QoS 0 message dropped for a peer over its memory bound; logs when that starts and ends. */
  private shedQos0(node: string, peer: Peer): void {
    const dropped = this.shed.get(node)
    this.shed.set(node, (dropped ?? 0) + 1)
    if (dropped !== undefined) return
    this.log.warn({ peer: node }, 'peer over its memory bound: QoS 0 publishes to it are dropped until it catches up')
    void peer.ready().then(() => {
      this.log.info({ peer: node, dropped: this.shed.get(node) }, 'peer under its memory bound again')
      this.shed.delete(node)
    })
  }

  /**
   * A batch that waited for the sessions lost with the lease. One that a session handed on meanwhile
   * subscribes to is refused: it was sent while that session was here, maybe before its new owner
   * claimed it (a node cut off since, a resend after the heal), so the new owner may not have it,
   * and from here it could only be relayed to the new owner when the sender did not route it
   * itself. Refused, its publisher is told and sends it again.
   */
  private receiveSettled(batch: InboundBatch, handedOn: readonly string[]): Promise<void> {
    for (const message of batch.messages) {
      if (handedOn.some((filter) => topicMatches(filter, message.topic))) {
        return Promise.reject(
          new ClusterNodeError(ClusterNodeErrorCode.NotReady, `node ${this.nodeId} handed a session on while this batch waited (${message.topic}): forwarded publishes refused`),
        )
      }
    }
    return this.receive(batch)
  }

  /**
   * A batch forwarded here: routed locally (relays to their one session), then made durable. One
   * that comes while this node starts (its transport listens before the core loaded its sessions)
   * waits for the core a while: refused, its publisher would be told of a failure it need not see.
   */
  private receive(batch: InboundBatch, waited = false): Promise<void> {
    if (this.inbound === undefined && !waited) return Promise.race([this.attached, sleep(SETTLE_WAIT_MS)]).then(() => this.receive(batch, true))
    const inbound = this.requireInbound()
    if (this.options.routedUnderEndedRegistration(batch.from, batch.arrivals) || this.routedBeforeLoss(batch)) return this.refuseStale(batch)
    if (this.refusingStale.size !== 0) this.refusingStale.delete(batch.from)
    // Without a lease this node serves no session (all went to ownershipLost): what it accepted
    // now would reach nobody, yet its sender would acknowledge it to the publisher. Refused, the
    // publisher is told (PUBACK/PUBREC with an error) instead.
    if (this.options.lease.id === undefined) {
      return Promise.reject(new ClusterNodeError(ClusterNodeErrorCode.NotReady, `node ${this.nodeId} holds no lease: forwarded publishes refused`))
    }
    // Routed once the sessions lost with the lease are back (or handed on): they are what it is for.
    const settling = this.settlingLost
    if (settling !== undefined) return Promise.race([settling.done, sleep(SETTLE_WAIT_MS)]).then(() => this.receiveSettled(batch, settling.handedOn))
    const moves = this.moves
    let waits: Promise<void>[] | undefined
    for (let i = 0; i < batch.messages.length; i++) {
      const message = batch.messages[i] as Message
      const routing = batch.routing?.[i]
      if (routing?.resend !== undefined) {
        const seq = batch.seqs?.[i]
        if (seq !== undefined) this.resends.receive(batch.from, seq, message, routing.resend)
        continue
      }
      if (routing?.relayFor !== undefined) {
        const nodes = [batch.from, this.nodeId, ...(routing.otherNodes ?? [])]
        const relayed = moves.relayedHere(routing.relayFor, message, nodes, (clientId, m, carried) => inbound.deliverTo(clientId, m, carried), routing.arrivals, routing.carried, routing.origin)
        if (relayed !== undefined) (waits ??= []).push(relayed)
        continue
      }
      inbound.deliverLocal(message)
      if (!moves.active) continue
      const seq = batch.seqs?.[i]
      const origin = seq === undefined ? { node: batch.from, arrivals: batch.arrivals } : { node: batch.from, arrivals: batch.arrivals, seq }
      const relayed = moves.routed(message, [batch.from, this.nodeId, ...(routing?.otherNodes ?? [])], origin)
      if (relayed !== undefined) (waits ??= []).push(relayed)
    }
    const seqs = batch.seqs
    if (seqs !== undefined && seqs.length > 0) {
      let last = seqs[0] as number
      for (let i = 1; i < seqs.length; i++) if ((seqs[i] as number) > last) last = seqs[i] as number
      moves.applied(batch.from, last)
    }
    const synced = this.options.sync()
    return waits === undefined ? synced : Promise.all([synced, ...waits]).then(() => undefined)
  }

  /**
   * A batch its sender routed under a lease it lost (its registration on it ended, or it said so
   * answering a takeover; it was cut off, frozen, or a previous life), resent or read late.
   * Whatever sessions it routed to itself then may be here now, resumed without their state, and
   * they had the publish from it: applied here, a QoS 2 subscriber would get it twice. Its publisher was not acknowledged (the sender waits for this
   * answer), so the refusal loses nothing acknowledged; other sessions here miss it as they would a
   * publish whose publisher gave up on it.
   */
  private refuseStale(batch: InboundBatch): Promise<void> {
    if (!this.refusingStale.has(batch.from)) {
      this.refusingStale.add(batch.from)
      this.log.warn({ peer: batch.from, messages: batch.messages.length }, 'forwarded batch routed under a lease its sender lost: refused (later ones from that node unlogged until one is accepted)')
    }
    return Promise.reject(new ClusterNodeError(ClusterNodeErrorCode.StaleRouting, `${batch.from} routed this batch under a lease it lost`))
  }

  /** `node` said it lost its lease having routed up to `seq` (LostSession). */
  private staleRoutingOf(node: string, seq: number): void {
    if (seq > (this.staleUpTo.get(node) ?? Number.NEGATIVE_INFINITY)) this.staleUpTo.set(node, seq)
  }

  /** Whether `batch` holds a publish its sender routed before it lost its lease, as it told this node. */
  private routedBeforeLoss(batch: InboundBatch): boolean {
    if (this.staleUpTo.size === 0 || batch.seqs === undefined) return false
    const upTo = this.staleUpTo.get(batch.from)
    return upTo !== undefined && batch.seqs.some((seq) => seq <= upTo)
  }

  /** This node registers on a new lease: its routing count from now on (NodeInfo.routedFrom). */
  newRegistration(): number {
    return this.moves.newRegistration()
  }

  private otherMembers(): Set<string> {
    const nodes = new Set(this.options.members())
    nodes.delete(this.nodeId)
    return nodes
  }

  /**
   * Another node took this client over. Without the session here, and after a lease loss, the
   * answer says how far this node had routed then (LostSession): whatever it forwarded up to there
   * is stale, its sessions having gone elsewhere without their state.
   */
  private async surrender(clientId: string, epoch: number, requesterNode: string): Promise<SurrenderedSession | LostSession | undefined> {
    const started = performance.now()
    // Asked while this node starts (its transport listens before the core loaded its sessions):
    // answered once the core is there, as `receive` does. Refused, the claim stayed with the
    // asking node, its client was refused, and the session was attached nowhere, with no route,
    // until the client's next CONNECT (chaos seed 3844332 lost 2 acknowledged publishes so).
    if (this.inbound === undefined) await Promise.race([this.attached, sleep(SETTLE_WAIT_MS)])
    const inbound = this.requireInbound()
    const attaching = this.attaching.get(clientId)
    if (attaching !== undefined) {
      // Fenced by the newer epoch: this node's own takeover of the client finishes first and what
      // it brings is surrendered with the rest, instead of two nodes each serving a copy.
      this.log.info({ clientId, epoch, requesterNode }, 'surrender waits for the takeover under way here')
      await attaching
    }
    const held = this.owned.get(clientId)
    const transferred = await this.moves.surrender(clientId, requesterNode, epoch, () => inbound.surrenderSession(clientId, epoch))
    if (held !== undefined && this.owned.get(clientId) === held) this.owned.delete(clientId)
    this.mirror?.forget(clientId)
    // The old owner's share of the new owner's stateMs; the rest is the transport and scheduling.
    const surrenderMs = elapsedMs(started, performance.now())
    this.log.info({ clientId, epoch, requesterNode, state: transferred !== undefined, surrenderMs }, 'session surrendered')
    if (transferred === undefined) return this.lostRoutingAt === undefined ? undefined : { lost: true, routedUpTo: this.lostRoutingAt }
    return { transferred, epoch: transferred.session.epoch ?? held ?? 0 }
  }

  private leaseLost(err: Error): void {
    this.lostRoutingAt = this.routeSeq
    this.options.peers.fence(this.routeSeq)
    const ids = [...this.owned.keys()]
    this.owned.clear()
    for (const id of ids) {
      this.mirror?.forget(id)
      this.moves.left(id)
    }
    this.log.warn({ err, sessions: ids.length }, 'node lease lost; owned sessions are no longer served here')
    if (ids.length === 0) return
    // The stored sessions' routes stay until they are held again or handed on (see handOnLost);
    // the others' go as the core drops them.
    const removals = new Set<string>()
    this.removalsOnLoss = removals
    let kept: StoredSession[]
    try {
      kept = this.inbound?.ownershipLost(ids) ?? []
    } finally {
      this.removalsOnLoss = undefined
    }
    for (const stored of kept) {
      this.lostWithLease.set(stored.session.clientId, stored)
      // One route reference per kept filter, however many sessions keep it: the core's, not removed.
      for (const { filter } of stored.subscriptions) {
        const keeping = this.keptRoutes.get(filter) ?? 0
        if (keeping > 0 || removals.delete(filter)) this.keptRoutes.set(filter, keeping + 1)
      }
    }
    for (const filter of removals) this.removeRouteNow(filter)
  }

  private requireInbound(): ClusterInbound {
    if (this.inbound === undefined) throw new ClusterNodeError(ClusterNodeErrorCode.NotReady, `node ${this.nodeId} is not serving yet`)
    return this.inbound
  }
}
