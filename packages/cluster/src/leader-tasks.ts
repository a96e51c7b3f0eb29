import { type Logger, type Message, willMessage } from '@fluxmq/core'
import { keyspace, type LeaderElection, type LeaderTerm, type SavedSessionEntry, type SessionOwnership, type StoredWill, type SubscriptionStore, type WillIndex } from '@fluxmq/cluster-etcd'

export interface LeaderTasksOptions {
  readonly nodeId: string
  readonly election: LeaderElection
  readonly wills: WillIndex
  readonly subscriptions: SubscriptionStore
  readonly ownership: SessionOwnership
  /** Whether a node is registered now (its lease is alive). */
  readonly isMember: (nodeId: string) => boolean
  /** Publishes a will into the cluster, as the dead node would have. */
  readonly publish: (message: Message) => void
  /**
   * Claims and holds here the sessions of dead nodes that no node owns (EtcdCluster.adoptOrphans);
   * resolves with those still owned by a node that is not registered, to be looked at again.
   */
  readonly adopt: (clientIds: readonly string[]) => Promise<readonly string[]>
  readonly logger: Logger
}

/** setTimeout's limit; a longer expiry is left for a later leader's scan. */
const MAX_TIMER_MS = 2 ** 31 - 1
/** How often a due will is looked at again while its node, restarted, owns its session but has not registered yet. */
const RESTARTING_RECHECK_MS = 1_000
/** How soon sessions still owned by a node that is not registered are looked at again (its lease expires within one TTL). */
const ADOPT_RECHECK_MS = 1_000

/**
 * The leader-only tasks of SPEC §6, for sessions whose node is gone (its lease expired): hold
 * them here (adoption: claimed and served offline until their clients come back anywhere, so
 * publishes for them are queued instead of reaching nobody), publish their wills after their
 * delay unless the client came back first (an adoption is not the client coming back), and delete
 * their saved subscriptions once the session expired unclaimed. The leader scans when it is
 * elected and whenever a node leaves; delays count from that moment (the time of death as this
 * leader saw it).
 *
 * Each task commits in one etcd transaction fenced by the leader's term and by the revisions it
 * read, so a deposed leader's timer, a second scan or a client claiming the session meanwhile
 * makes it a no-op: a will is taken out of etcd by exactly one leader, which alone publishes it.
 * A leader that dies between the take and the publish loses that will (at most once, never twice).
 */
export class LeaderTasks {
  private readonly timers = new Map<string, NodeJS.Timeout>()
  private readonly log: Logger
  private readonly stopListening: (() => void)[] = []
  private scanning: Promise<void> | undefined
  private rescan = false

  constructor(private readonly options: LeaderTasksOptions) {
    this.log = options.logger.child({ component: 'leader-tasks', nodeId: options.nodeId })
  }

  start(): void {
    const { election } = this.options
    this.stopListening.push(
      election.onElected((term) => {
        this.log.info({ term }, 'leader tasks started')
        this.scan()
      }),
      election.onDeposed(() => this.cancelAll()),
    )
    if (election.isLeader) this.scan()
  }

  stop(): void {
    for (const stop of this.stopListening.splice(0)) stop()
    this.cancelAll()
  }

  /** A node's registration vanished (lease expired or it left): its sessions may be orphans now. */
  nodeLeft(nodeId: string): void {
    if (!this.options.election.isLeader) return
    this.log.info({ deadNode: nodeId }, 'node gone, looking for its wills and sessions')
    this.scan()
  }

  private scan(): void {
    if (this.scanning !== undefined) {
      this.rescan = true
      return
    }
    this.scanning = this.scanOnce()
      .catch((err: unknown) => {
        this.log.warn({ err }, 'leader scan failed, retrying')
        this.rescan = true
      })
      .finally(() => {
        this.scanning = undefined
        if (this.rescan && this.options.election.isLeader) {
          this.rescan = false
          setTimeout(() => this.scan(), 500).unref()
        }
      })
  }

  private async scanOnce(): Promise<void> {
    const { wills, subscriptions, isMember } = this.options
    const [pendingWills, saved] = await Promise.all([wills.entries(), subscriptions.all()])
    if (!this.options.election.isLeader) return
    // Adopted first: a will due at once then finds its session's key as the adoption left it.
    await this.adopt(saved)
    for (const [clientId, will] of pendingWills) {
      if (isMember(will.node)) continue
      // A client disconnected before its node died: its delay runs from then, else from the death as seen here.
      const delayMs = will.delayInterval * 1000 - (will.disconnectedAt === undefined ? 0 : Date.now() - will.disconnectedAt)
      this.schedule(`will:${clientId}`, Math.max(0, delayMs), () => this.willDue(clientId, will, will.modRevision))
    }
    for (const [clientId, entry] of saved) {
      if (isMember(entry.node)) continue
      this.schedule(`subs:${clientId}`, entry.expiryInterval * 1000, () => this.sessionExpired(clientId, entry.node, entry.modRevision))
    }
  }

  /** Holds here the saved sessions of nodes that are not registered (see LeaderTasksOptions.adopt). */
  private async adopt(saved: ReadonlyMap<string, SavedSessionEntry>): Promise<void> {
    const orphans = [...saved].filter(([, entry]) => !this.options.isMember(entry.node)).map(([clientId]) => clientId)
    if (orphans.length === 0) return
    const pending = await this.options.adopt(orphans)
    // Their node deregistered before its lease went (a graceful leave): no other event tells.
    if (pending.length > 0) this.schedule('rescan:adopt', ADOPT_RECHECK_MS, async () => this.scan())
  }

  private schedule(key: string, delayMs: number, task: () => Promise<void>): void {
    if (this.timers.has(key) || delayMs > MAX_TIMER_MS) return
    const timer = setTimeout(() => {
      this.timers.delete(key)
      if (!this.options.election.isLeader) return
      task().catch((err: unknown) => {
        this.log.warn({ err, task: key }, 'leader task failed, retried at the next scan')
        this.scan()
      })
    }, delayMs)
    this.timers.set(key, timer)
  }

  private async willDue(clientId: string, will: StoredWill, modRevision: string): Promise<void> {
    // The node came back (a restart): its wills are its own again.
    if (this.options.isMember(will.node)) return
    const term = this.term()
    if (term === undefined) return
    const { owner } = await this.options.ownership.read(clientId)
    const sessionModRevision = owner?.modRevision ?? '0'
    if (owner?.node === will.node) {
      // Its node restarted and claimed the session again (or its client came back to it): the
      // will is that node's, which kept it only if it was here at its claim (claimStored). Should
      // it die again before it registers, no node would leave again: scan until one or the other
      // (afresh: the node may have rewritten the will under its new claim; one scan for all its wills).
      if (!this.options.isMember(will.node)) this.schedule(`rescan:${will.node}`, RESTARTING_RECHECK_MS, async () => this.scan())
      return
    }
    // [MQTT-3.1.3-9] The client connected again (on some node) before the delay elapsed: no will.
    // A leader's adoption claims the session without the client: the will stays due.
    const newer = owner !== undefined && owner.epoch > will.epoch
    const adopted = newer && (await this.options.ownership.adoptedEpoch(clientId)) === owner.epoch
    const cameBack = newer && !adopted
    if (owner !== undefined && !newer) return
    if (!(await this.options.wills.take(clientId, modRevision, sessionModRevision, term))) {
      // The session key changed between the read and the take (its client came back, an
      // adoption): looked at again, so the will is published or dropped for what it is now.
      this.scan()
      return
    }
    if (cameBack) {
      this.log.info({ clientId, deadNode: will.node, owner: owner.node }, 'will of a dead node dropped, its client came back')
      return
    }
    if (will.stored.kind !== 'inline') {
      this.log.error({ clientId, deadNode: will.node, size: will.stored.size }, 'will of a dead node not published: its payload was held by that node')
      return
    }
    const { message } = will.stored
    // Its Message Expiry Interval counts from publication, as for a local will.
    this.options.publish(willMessage(message, clientId, Date.now()))
    this.log.info({ clientId, deadNode: will.node, topic: message.topic, delaySeconds: will.delayInterval, adopted }, 'will of a dead node published')
  }

  private async sessionExpired(clientId: string, node: string, modRevision: string): Promise<void> {
    if (this.options.isMember(node)) return
    const term = this.term()
    if (term === undefined) return
    if (await this.options.subscriptions.sweep(clientId, modRevision, term)) {
      this.log.info({ clientId, deadNode: node }, 'session of a dead node expired, its subscriptions deleted')
    }
  }

  private term(): LeaderTerm | undefined {
    const createRevision = this.options.election.term
    return createRevision === undefined ? undefined : { key: keyspace.LEADER, createRevision }
  }

  private cancelAll(): void {
    for (const timer of this.timers.values()) clearTimeout(timer)
    this.timers.clear()
  }
}
