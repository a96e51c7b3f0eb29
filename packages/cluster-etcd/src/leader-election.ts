import type { Logger } from '@fluxmq/core'
import type { Namespace } from 'etcd3'
import { describeCause } from './errors.js'
import { LEADER } from './keyspace.js'
import { Listeners } from './listeners.js'
import type { NodeLease } from './node-lease.js'
import { type PrefixEntry, WatchedPrefix } from './watched-prefix.js'

export interface LeaderElectionOptions {
  readonly nodeId: string
  readonly logger: Logger
}

const MAX_RETRY_MS = 2_000

/**
 * Leader election for the leader-only tasks (session expiry sweep, wills of dead nodes): the key
 * `leader` holds the leader's node id on the leader's node lease and is created only if absent, in
 * one transaction, so there is at most one leader in etcd at any revision. Every node watches it;
 * when it is deleted (resign, or the leader's lease expired) each candidate tries to create it and
 * one succeeds, so a dead leader is replaced within one lease TTL.
 *
 * Leadership is read from the watch alone, in revision order: this node leads while the key it
 * last saw holds its id on its current lease (a campaign's answer only starts the wait for that
 * event, so a late event can never leave two opinions). It stops ("deposed") the moment its lease
 * is lost, which NodeLease reports no later than etcd may expire it, so an old leader has stopped
 * before a new one can be elected. `term` (the revision that created the key) grows with every
 * election: leader tasks can carry it as a fencing token.
 */
export class LeaderElection {
  private readonly watch: WatchedPrefix
  private readonly log: Logger
  private readonly elected = new Listeners<[term: string]>()
  private readonly deposed = new Listeners<[]>()
  private currentLeader: string | undefined
  private ownTerm: string | undefined
  private campaigning = false
  private retryTimer: NodeJS.Timeout | undefined
  private retries = 0
  private stopped = false
  private unsubscribe: (() => void)[] = []

  constructor(
    private readonly etcd: Namespace,
    private readonly lease: NodeLease,
    private readonly options: LeaderElectionOptions,
  ) {
    this.log = options.logger.child({ nodeId: options.nodeId })
    this.watch = new WatchedPrefix(
      etcd,
      LEADER,
      {
        put: (key, entry) => key === LEADER && this.onLeader(entry),
        delete: (key) => key === LEADER && this.onVacant(),
      },
      this.log,
    )
  }

  get isLeader(): boolean {
    return this.ownTerm !== undefined
  }

  /** The leader this node last saw (itself included); undefined while the seat is vacant. */
  get leader(): string | undefined {
    return this.currentLeader
  }

  /** This node's term while it leads. */
  get term(): string | undefined {
    return this.ownTerm
  }

  /** This node became leader: start the leader-only tasks. */
  onElected(listener: (term: string) => void): () => void {
    return this.elected.add(listener)
  }

  /** This node is no longer leader (lease lost, another node leads, or stop()): stop those tasks now. */
  onDeposed(listener: () => void): () => void {
    return this.deposed.add(listener)
  }

  async start(): Promise<void> {
    this.unsubscribe = [
      this.lease.onLost(() => this.depose('node lease lost')),
      this.lease.onGranted(() => {
        if (this.currentLeader === undefined) void this.campaign()
      }),
    ]
    await this.watch.start()
    if (this.currentLeader === undefined) await this.campaign()
  }

  /** Resigns (deletes the key if it is still ours) so another node takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.retryTimer)
    for (const unsubscribe of this.unsubscribe) unsubscribe()
    await this.watch.stop()
    const term = this.ownTerm
    this.depose('stopping')
    if (term === undefined) return
    try {
      await this.etcd.if(LEADER, 'Create', '==', term).then(this.etcd.delete().key(LEADER)).commit()
      this.log.info({ term }, 'resigned leadership')
    } catch (error) {
      // The key is on the node lease: it goes when the lease is revoked or expires.
      this.log.warn({ err: describeCause(error) }, 'resigning leadership failed')
    }
  }

  private onLeader(entry: PrefixEntry): void {
    const nodeId = entry.value.toString('utf8')
    this.currentLeader = nodeId
    if (nodeId !== this.options.nodeId || entry.lease !== this.lease.id) {
      this.depose(`${nodeId} leads on lease ${entry.lease}`)
      return
    }
    if (this.ownTerm === entry.createRevision || this.stopped) return
    this.ownTerm = entry.createRevision
    this.log.info({ term: this.ownTerm }, 'elected leader')
    this.elected.emit(this.ownTerm)
  }

  private onVacant(): void {
    this.currentLeader = undefined
    this.depose('leader key deleted')
    void this.campaign()
  }

  private async campaign(): Promise<void> {
    if (this.campaigning || this.stopped) return
    const leaseId = this.lease.id
    if (leaseId === undefined) return // the re-grant campaigns again
    this.campaigning = true
    clearTimeout(this.retryTimer)
    try {
      // Won or lost, the watch reports the outcome.
      await this.etcd.if(LEADER, 'Create', '==', 0).then(this.etcd.put(LEADER).value(this.options.nodeId).lease(leaseId)).commit()
      this.retries = 0
    } catch (error) {
      const delayMs = Math.min(MAX_RETRY_MS, 100 * 2 ** this.retries)
      this.retries += 1
      this.log.warn({ err: describeCause(error), retryInMs: delayMs }, 'leader campaign failed, retrying')
      this.retryTimer = setTimeout(() => {
        if (this.currentLeader === undefined) void this.campaign()
      }, delayMs)
    } finally {
      this.campaigning = false
    }
  }

  private depose(why: string): void {
    if (this.ownTerm === undefined) return
    this.log.warn({ term: this.ownTerm, reason: why }, 'no longer leader')
    this.ownTerm = undefined
    this.deposed.emit()
  }
}
