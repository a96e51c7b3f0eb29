import type { Cluster, ClusterInbound, SessionClaim, StoredClaim, StoredOwnership, TransferredSession } from '../cluster.js'
import type { Message } from '../message.js'

/** A Cluster that records every call and lets a test script ownership claims. */
export class RecordingCluster implements Cluster {
  readonly nodeId = 'n1'
  inbound: ClusterInbound | undefined
  readonly calls: string[] = []
  readonly forwarded: Message[] = []
  /** Next claims hand over this state (as if the session came from another node). */
  transfer: TransferredSession | undefined
  fail = false
  /** What the next claim held for its client while the transfer was in flight (SessionClaim.held). */
  held: Message[] | undefined
  /** The epoch of the next claim. */
  epoch = 1
  /** Stored sessions that another node owns: claimStored leaves them out. */
  readonly foreign = new Set<string>()
  /** Stored sessions whose will the cluster handled while this node was down (claimStored says so). */
  readonly willsHandled = new Set<string>()
  /** What takeWill answers: true (the will is this node's), false (another node's) or a pending answer. */
  willTaken: boolean | Promise<boolean> = true
  /** What forward answers: undefined (sent nowhere) or the remote nodes' acceptance. */
  acceptance: (() => Promise<void>) | undefined

  attach(inbound: ClusterInbound): void {
    this.inbound = inbound
  }

  takeWill(clientId: string, epoch: number): Promise<boolean> {
    this.calls.push(`take will ${clientId}@${epoch}`)
    return Promise.resolve(this.willTaken)
  }

  async claimStored(sessions: readonly StoredClaim[]): Promise<ReadonlyMap<string, StoredOwnership>> {
    this.calls.push(`claim stored ${sessions.map((s) => `${s.clientId}@${s.epoch}${s.will ? '+will' : ''}`).join(' ')}`)
    const owned = sessions.filter((s) => !this.foreign.has(s.clientId))
    return new Map(owned.map((s) => [s.clientId, { epoch: s.epoch + 1, willHandled: this.willsHandled.has(s.clientId) }]))
  }

  async acquireSession(clientId: string): Promise<SessionClaim> {
    this.calls.push(`acquire ${clientId}`)
    if (this.fail) throw new Error('etcd unavailable')
    const transferred = this.transfer
    const held = this.held
    this.transfer = undefined
    this.held = undefined
    return held === undefined ? { epoch: this.epoch, transferred } : { epoch: this.epoch, transferred, held: () => held }
  }

  releaseSession(clientId: string): void {
    this.calls.push(`release ${clientId}`)
  }

  addRoute(filter: string): void {
    this.calls.push(`add ${filter}`)
  }

  removeRoute(filter: string): void {
    this.calls.push(`remove ${filter}`)
  }

  forward(message: Message, unattended?: boolean): Promise<void> | undefined {
    this.calls.push(`forward ${message.topic}${unattended === true ? ' unattended' : ''}`)
    this.forwarded.push(message)
    return this.acceptance?.()
  }
}
