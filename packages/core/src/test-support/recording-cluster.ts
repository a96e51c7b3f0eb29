import type { Cluster, ClusterInbound, SessionClaim, TransferredSession } from '../cluster.js'
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

  attach(inbound: ClusterInbound): void {
    this.inbound = inbound
  }

  async acquireSession(clientId: string): Promise<SessionClaim> {
    this.calls.push(`acquire ${clientId}`)
    if (this.fail) throw new Error('etcd unavailable')
    const transferred = this.transfer
    this.transfer = undefined
    return { epoch: 1, transferred }
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

  forward(message: Message): void {
    this.forwarded.push(message)
  }
}
