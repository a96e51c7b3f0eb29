import { topicMatches, unshared } from '@fluxmq/topic'
import type { Cluster, ClusterInbound, SessionClaim, StoredClaim, StoredOwnership } from '../cluster.js'
import type { Message } from '../message.js'

/**
 * The cluster double: several Brokers in one process share one `TwinClusters`, which keeps what
 * etcd and the data plane will keep (session owner and epoch, each node's routes) and answers at
 * once. A claim of a session another node owns asks that node to surrender it under the new
 * epoch; forward hands a publish to every other node with a matching route.
 */
export class TwinClusters {
  readonly owners = new Map<string, { readonly node: TwinCluster; readonly epoch: number }>()
  readonly nodes: TwinCluster[] = []
  private epoch = 0

  node(nodeId: string): TwinCluster {
    const node = new TwinCluster(nodeId, this)
    this.nodes.push(node)
    return node
  }

  /** The next fencing token: larger than every one handed out or seen in storage. */
  nextEpoch(atLeast = 0): number {
    this.epoch = Math.max(this.epoch, atLeast) + 1
    return this.epoch
  }
}

export class TwinCluster implements Cluster {
  inbound: ClusterInbound | undefined
  private readonly routes = new Set<string>()

  constructor(
    readonly nodeId: string,
    private readonly shared: TwinClusters,
  ) {}

  attach(inbound: ClusterInbound): void {
    this.inbound = inbound
  }

  async claimStored(sessions: readonly StoredClaim[]): Promise<ReadonlyMap<string, StoredOwnership>> {
    const owned = new Map<string, StoredOwnership>()
    for (const s of sessions) {
      const owner = this.shared.owners.get(s.clientId)
      if (owner !== undefined && owner.node !== this) continue
      const epoch = this.shared.nextEpoch(s.epoch)
      this.shared.owners.set(s.clientId, { node: this, epoch })
      owned.set(s.clientId, { epoch, willHandled: false })
    }
    return owned
  }

  async acquireSession(clientId: string): Promise<SessionClaim> {
    const epoch = this.shared.nextEpoch()
    const previous = this.shared.owners.get(clientId)
    this.shared.owners.set(clientId, { node: this, epoch })
    if (previous === undefined || previous.node === this) return { epoch }
    const transferred = await previous.node.inbound?.surrenderSession(clientId, epoch)
    return transferred === undefined ? { epoch } : { epoch, transferred }
  }

  releaseSession(clientId: string): void {
    if (this.shared.owners.get(clientId)?.node === this) this.shared.owners.delete(clientId)
  }

  addRoute(filter: string): void {
    this.routes.add(filter)
  }

  removeRoute(filter: string): void {
    this.routes.delete(filter)
  }

  forward(message: Message): Promise<void> | undefined {
    const targets = this.shared.nodes.filter((n) => n !== this && n.hasRouteFor(message.topic))
    if (targets.length === 0) return undefined
    for (const node of targets) node.inbound?.deliverLocal(message)
    return Promise.resolve()
  }

  /** This node's lease on these sessions expired and `to` claimed them. */
  loseTo(to: TwinCluster, clientIds: readonly string[]): void {
    for (const id of clientIds) this.shared.owners.set(id, { node: to, epoch: this.shared.nextEpoch() })
    this.inbound?.ownershipLost(clientIds)
  }

  private hasRouteFor(topic: string): boolean {
    for (const filter of this.routes) if (topicMatches(unshared(filter), topic)) return true
    return false
  }
}
