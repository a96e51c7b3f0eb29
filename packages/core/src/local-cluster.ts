import type { Cluster, ClusterInbound, SessionClaim } from './cluster.js'
import type { Message } from './message.js'

/**
 * The single-node Cluster: this node owns every session and there is nobody to forward to.
 * Claims resolve at once with an epoch from one counter for the node: it grows with every claim
 * of a session, as a real cluster's fencing token would, without a map entry per client id (that
 * map cost ~50 bytes per connection).
 */
export class LocalCluster implements Cluster {
  private epoch = 0

  constructor(readonly nodeId: string) {}

  attach(_inbound: ClusterInbound): void {}

  async acquireSession(_clientId: string): Promise<SessionClaim> {
    return { epoch: ++this.epoch }
  }

  releaseSession(_clientId: string): void {}

  addRoute(_filter: string): void {}

  removeRoute(_filter: string): void {}

  forward(_message: Message): void {}
}
