import type { Logger } from '@fluxmq/core'
import { EtcdLeaseInvalidError, type IDuplexStream, type ILeaseKeepAliveRequest, type ILeaseKeepAliveResponse, type Namespace } from 'etcd3'
import { ClusterError, ClusterErrorCode, describeCause } from './errors.js'
import { Listeners } from './listeners.js'

export interface NodeLeaseOptions {
  readonly nodeId: string
  /** `cluster.etcd.lease_ttl` in whole seconds (etcd's unit). */
  readonly ttlSeconds: number
  readonly logger: Logger
}

type State = 'idle' | 'alive' | 'lost' | 'stopped'

/** The part of the TTL before etcd's expiry at which the lease is declared lost (see NodeLease). */
const LOST_MARGIN = 0.2

/**
 * The one lease of this node; every per-node key (registration, sessions, routes) hangs on it, so
 * a dead node's keys vanish by themselves one TTL after its last keepalive.
 *
 * The node must stop acting as an owner before etcd may drop its keys. etcd counts the TTL from
 * when it received a keepalive, which is after we sent it, so the lease is trusted only until
 * `sent + TTL` of the last answered keepalive, less a margin of a fifth of the TTL: "lost" fires
 * then when no later keepalive was answered (etcd unreachable or without quorum). The margin is
 * for the clients the node drops at that moment: they reconnect to other nodes and are claimed
 * there while this node's routes still stand, so a publish for their sessions meanwhile fails
 * at its publisher (sent to this node, which refuses it) instead of being acknowledged to nobody
 * once the routes vanish with the lease. From then on a new lease is requested with backoff;
 * "granted" fires with its id, and owners write their keys again on it.
 *
 * Within the TTL the keepalive stream moves between members promptly: a stream that breaks, or
 * whose keepalive goes unanswered for half an interval, is reopened at once and then with short
 * backoff (the pool picks a member at random and may pick the dead one again), not at the next
 * tick: waiting a tick per unlucky pick spent a whole 5 s TTL on a dead member of three.
 */
export class NodeLease {
  private state: State = 'idle'
  private leaseId: string | undefined
  private validUntil = 0
  private stream: IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse> | undefined
  /** Send times of keepalives not answered yet, oldest first (answers come back in order). */
  private sentTimes: number[] = []
  /** Start of the pending stream open, 0 when none; a newer attempt supersedes one that hangs. */
  private openingSince = 0
  private openAttempt = 0
  private reopenBackoff = 0
  private keepaliveTimer: NodeJS.Timeout | undefined
  private answerTimer: NodeJS.Timeout | undefined
  private reopenTimer: NodeJS.Timeout | undefined
  private watchdog: NodeJS.Timeout | undefined
  private regrantTimer: NodeJS.Timeout | undefined
  private readonly granted = new Listeners<[leaseId: string]>()
  private readonly lost = new Listeners<[error: ClusterError]>()
  private readonly log: Logger

  constructor(
    private readonly etcd: Namespace,
    private readonly options: NodeLeaseOptions,
  ) {
    this.log = options.logger.child({ nodeId: options.nodeId })
  }

  /** The current lease id; undefined while lost. */
  get id(): string | undefined {
    return this.state === 'alive' ? this.leaseId : undefined
  }

  /** The current lease id, or a LeaseLost error for writes that must hang on a live lease. */
  requireId(): string {
    const id = this.id
    if (id === undefined) throw new ClusterError(ClusterErrorCode.LeaseLost, `node ${this.options.nodeId} holds no live lease`)
    return id
  }

  /** A new lease was granted (after start(), every re-grant after a loss); keys must be written on it again. */
  onGranted(listener: (leaseId: string) => void): () => void {
    return this.granted.add(listener)
  }

  /** The lease can no longer be proven alive: stop acting as an owner of anything leased. */
  onLost(listener: (error: ClusterError) => void): () => void {
    return this.lost.add(listener)
  }

  /** Grants the first lease; rejects (EtcdUnavailable) when etcd does not answer. */
  async start(): Promise<void> {
    if (this.state !== 'idle') throw new ClusterError(ClusterErrorCode.Closed, 'NodeLease.start() called twice')
    await this.grant()
    this.keepaliveTimer = setInterval(() => this.sendKeepalive(), this.intervalMs())
  }

  /** Revokes the lease, so every key on it disappears now rather than one TTL later. */
  async stop(): Promise<void> {
    const id = this.leaseId
    const wasAlive = this.state === 'alive'
    this.state = 'stopped'
    clearInterval(this.keepaliveTimer)
    clearTimeout(this.watchdog)
    clearTimeout(this.regrantTimer)
    clearTimeout(this.reopenTimer)
    this.closeStream()
    if (wasAlive && id !== undefined) await this.revoke(id)
  }

  private async grant(): Promise<void> {
    const sent = Date.now()
    let res
    try {
      res = await this.etcd.leaseClient.leaseGrant({ TTL: this.options.ttlSeconds })
    } catch (error) {
      throw new ClusterError(ClusterErrorCode.EtcdUnavailable, `lease grant for node ${this.options.nodeId} failed: ${describeCause(error)}`, { cause: error })
    }
    if (this.state === 'stopped') {
      await this.revoke(res.ID)
      return
    }
    const previous = this.leaseId
    this.leaseId = res.ID
    this.state = 'alive'
    this.extend(sent, Number(res.TTL))
    this.log.info({ leaseId: res.ID, ttlSeconds: Number(res.TTL) }, 'node lease granted')
    this.granted.emit(res.ID)
    // A lease lost only from our side (etcd was slow, not gone) may still hold keys: dropped, but
    // only once the owners wrote theirs again on the new one. A key written again moves to the new
    // lease and stays; revoked at once, a route kept across the loss vanished from every other
    // node's view until its new put, and a publish meanwhile reached nobody.
    if (previous !== undefined) {
      setTimeout(() => {
        if (this.state !== 'stopped') void this.revoke(previous)
      }, this.patienceMs())
    }
  }

  private sendKeepalive(): void {
    if (this.state !== 'alive' || this.leaseId === undefined) return
    if (this.stream === undefined) return this.openStream()
    this.sentTimes.push(Date.now())
    this.stream.write({ ID: this.leaseId })
    if (this.answerTimer === undefined) this.armAnswerTimer()
  }

  /** Keepalive period: a third of the TTL, as etcd's own Go client does. */
  private intervalMs(): number {
    return (this.options.ttlSeconds * 1000) / 3
  }

  /** How long an answer may take before the member is presumed hung or partitioned. */
  private patienceMs(): number {
    return this.intervalMs() / 2
  }

  private openStream(): void {
    // One attempt at a time, unless the pending one hangs (a member that accepts and never answers).
    if (this.openingSince !== 0 && Date.now() - this.openingSince < this.patienceMs()) return
    this.openingSince = Date.now()
    const attempt = ++this.openAttempt
    const id = this.leaseId
    this.etcd.leaseClient.leaseKeepAlive().then(
      (stream) => {
        if (attempt !== this.openAttempt) return stream.cancel()
        this.openingSince = 0
        if (this.state !== 'alive' || this.leaseId !== id) return stream.cancel()
        this.stream = stream
        this.sentTimes = []
        stream.on('data', (res) => this.onKeepaliveAnswer(stream, res))
        stream.on('error', (error) => this.onStreamBroken(stream, error))
        stream.on('end', () => this.onStreamBroken(stream, new Error('keepalive stream ended')))
        this.sendKeepalive()
      },
      (error: unknown) => {
        if (attempt !== this.openAttempt) return
        this.openingSince = 0
        this.log.warn({ err: describeCause(error) }, 'node lease keepalive stream could not be opened')
        this.scheduleReopen()
      },
    )
  }

  private onKeepaliveAnswer(stream: unknown, res: ILeaseKeepAliveResponse): void {
    const sent = this.sentTimes.shift()
    if (stream !== this.stream || sent === undefined || this.state !== 'alive') return
    this.reopenBackoff = 0
    clearTimeout(this.answerTimer)
    this.answerTimer = undefined
    if (this.sentTimes.length > 0) this.armAnswerTimer()
    const ttl = Number(res.TTL)
    // TTL 0: etcd no longer knows the lease (it expired while we could not reach etcd).
    if (ttl <= 0) this.declareLost('etcd reports the lease expired')
    else this.extend(sent, ttl)
  }

  private armAnswerTimer(): void {
    const oldest = this.sentTimes[0]
    if (oldest === undefined) return
    this.answerTimer = setTimeout(() => {
      this.answerTimer = undefined
      if (this.stream === undefined || this.sentTimes[0] !== oldest) return
      this.log.warn({ unansweredMs: Date.now() - oldest }, 'node lease keepalive unanswered, reopening the stream')
      this.closeStream()
      this.scheduleReopen()
    }, Math.max(0, oldest + this.patienceMs() - Date.now()))
  }

  private onStreamBroken(stream: unknown, error: unknown): void {
    if (stream !== this.stream) return
    this.closeStream()
    if (this.state !== 'alive') return
    this.log.warn({ err: describeCause(error) }, 'node lease keepalive stream broke, reopening')
    this.scheduleReopen()
  }

  /** At once the first time, then 100 ms doubling up to one interval, until an answer arrives. */
  private scheduleReopen(): void {
    if (this.reopenTimer !== undefined || this.state !== 'alive') return
    const delayMs = this.reopenBackoff === 0 ? 0 : Math.min(this.intervalMs(), this.reopenBackoff)
    this.reopenBackoff = Math.max(100, this.reopenBackoff * 2)
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = undefined
      if (this.state === 'alive' && this.stream === undefined) this.openStream()
    }, delayMs)
  }

  private closeStream(): void {
    this.stream?.cancel()
    this.stream = undefined
    this.sentTimes = []
    clearTimeout(this.answerTimer)
    this.answerTimer = undefined
  }

  private extend(sent: number, ttlSeconds: number): void {
    this.validUntil = Math.max(this.validUntil, sent + ttlSeconds * 1000 * (1 - LOST_MARGIN))
    clearTimeout(this.watchdog)
    this.watchdog = setTimeout(() => this.onWatchdog(), this.validUntil - Date.now())
  }

  private onWatchdog(): void {
    if (this.state !== 'alive') return
    if (Date.now() < this.validUntil) {
      this.watchdog = setTimeout(() => this.onWatchdog(), this.validUntil - Date.now())
      return
    }
    this.declareLost(`no keepalive answered within ${(this.options.ttlSeconds * (1 - LOST_MARGIN)).toFixed(1)} s of the ${this.options.ttlSeconds} s TTL`)
  }

  private declareLost(why: string): void {
    this.state = 'lost'
    this.closeStream()
    clearTimeout(this.watchdog)
    const error = new ClusterError(ClusterErrorCode.LeaseLost, `node ${this.options.nodeId} lost lease ${this.leaseId}: ${why}`)
    this.log.error({ leaseId: this.leaseId, reason: why }, 'node lease lost')
    this.lost.emit(error)
    this.scheduleRegrant(0)
  }

  private scheduleRegrant(attempt: number): void {
    const delayMs = Math.min(this.options.ttlSeconds * 1000, 100 * 2 ** attempt)
    this.regrantTimer = setTimeout(() => {
      if (this.state !== 'lost') return
      this.grant().catch((error: unknown) => {
        this.log.warn({ err: describeCause(error), attempt: attempt + 1 }, 'node lease re-grant failed')
        this.scheduleRegrant(attempt + 1)
      })
    }, delayMs)
  }

  private async revoke(id: string): Promise<void> {
    try {
      await this.etcd.leaseClient.leaseRevoke({ ID: id })
    } catch (error) {
      if (error instanceof EtcdLeaseInvalidError) return // already expired: the goal of revoking
      // It expires by itself within one TTL; a failed revoke only delays that.
      this.log.warn({ leaseId: id, err: describeCause(error) }, 'node lease revoke failed')
    }
  }
}
