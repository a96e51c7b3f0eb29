import type { Cluster, ClusterInbound, SessionClaim, StoredClaim, StoredOwnership } from './cluster.js'
import type { Message } from './message.js'

/**
 * The single-node Cluster: this node owns every session and there is nobody to forward to.
 * Claims resolve at once with an epoch from one counter for the node: it grows with every claim
 * of a session, as a real cluster's fencing token would, without a map entry per client id (that
 * map cost ~50 bytes per connection). At start-up the counter continues above every stored
 * session's epoch, so epochs never go back across restarts.
 */
export class LocalCluster implements Cluster {
  private epoch = 0

  constructor(readonly nodeId: string) {}

  attach(_inbound: ClusterInbound): void {}

  async claimStored(sessions: readonly StoredClaim[]): Promise<ReadonlyMap<string, StoredOwnership>> {
    for (const s of sessions) if (s.epoch > this.epoch) this.epoch = s.epoch
    const owned = new Map<string, StoredOwnership>()
    for (const s of sessions) owned.set(s.clientId, { epoch: ++this.epoch, willHandled: false })
    return owned
  }

  async acquireSession(_clientId: string): Promise<SessionClaim> {
    return { epoch: ++this.epoch }
  }

  releaseSession(_clientId: string): void {}

  addRoute(_filter: string): void {}

  removeRoute(_filter: string): void {}

  forward(_message: Message): undefined {
    return undefined
  }
}
