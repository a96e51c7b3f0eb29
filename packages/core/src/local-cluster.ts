import type { Cluster, ClusterInbound, SessionClaim } from './cluster.js'
import type { Message } from './message.js'

/**
 * The single-node Cluster: this node owns every session and there is nobody to forward to.
 * Claims resolve at once with an epoch that grows with every claim while the session lives, as a
 * real cluster's fencing token would.
 */
export class LocalCluster implements Cluster {
  private readonly epochs = new Map<string, number>()

  constructor(readonly nodeId: string) {}

  attach(_inbound: ClusterInbound): void {}

  async acquireSession(clientId: string): Promise<SessionClaim> {
    const epoch = (this.epochs.get(clientId) ?? 0) + 1
    this.epochs.set(clientId, epoch)
    return { epoch }
  }

  releaseSession(clientId: string): void {
    this.epochs.delete(clientId)
  }

  addRoute(_filter: string): void {}

  removeRoute(_filter: string): void {}

  forward(_message: Message): void {}
}
