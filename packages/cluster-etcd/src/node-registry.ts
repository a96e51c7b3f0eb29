import type { Logger } from '@fluxmq/core'
import type { Namespace } from 'etcd3'
import { ClusterError, ClusterErrorCode, describeCause } from './errors.js'
import { NODES, nodeKey, parseLeafKey } from './keyspace.js'
import { Listeners } from './listeners.js'
import type { NodeLease } from './node-lease.js'
import { WatchedPrefix } from './watched-prefix.js'

/** What a node publishes about itself in `nodes/<node>`. */
export interface NodeInfo {
  readonly nodeId: string
  /** host:port peers dial for the data plane (`cluster.transport.advertise_addr`). */
  readonly transportAddr: string
  /** Client listeners by name (`mqtt`, `mqtts`, `ws`, `amqp`), for redirects and `ctl cluster`. */
  readonly clientAddrs: Readonly<Record<string, string>>
  readonly version: string
  /** Set once the node began a graceful leave: it serves only the takeovers of its sessions. */
  readonly leaving?: true
  /**
   * The node's routing count (its `arrivals`, carried by every batch it forwards) when it
   * registered on its current lease: a batch that carries less was routed under an earlier one.
   */
  readonly routedFrom?: number
}

/**
 * This node's registration (`nodes/<node>`, on the node lease, written again on every re-grant)
 * and a watch-fed view of every registered node. "joined" fires for a node that appears or whose
 * record changed (peers should dial the new address); "left" when its key is gone (a clean leave
 * or its lease expired).
 */
export class NodeRegistry {
  private readonly nodes = new Map<string, NodeInfo>()
  private readonly joined = new Listeners<[info: NodeInfo]>()
  private readonly left = new Listeners<[nodeId: string]>()
  /** Nodes whose registration this node saw end, until they register again. */
  private readonly ended = new Set<string>()
  private readonly watch: WatchedPrefix
  private readonly log: Logger
  private stopGranted: () => void = () => undefined

  constructor(
    private readonly etcd: Namespace,
    private readonly lease: NodeLease,
    private self: NodeInfo,
    logger: Logger,
  ) {
    this.log = logger.child({ nodeId: self.nodeId })
    this.watch = new WatchedPrefix(etcd, NODES, { put: (key, entry) => this.onPut(key, entry.value), delete: (key) => this.onDelete(key) }, this.log)
  }

  /** Every node currently registered, this one included once its write is seen. */
  get members(): ReadonlyMap<string, NodeInfo> {
    return this.nodes
  }

  onJoined(listener: (info: NodeInfo) => void): () => void {
    return this.joined.add(listener)
  }

  onLeft(listener: (nodeId: string) => void): () => void {
    return this.left.add(listener)
  }

  /**
   * Whether a batch `nodeId` forwarded, carrying its routing count `routed`, was routed under a
   * registration of that node that has ended (its lease expired or was replaced). The sessions
   * that node held then may have moved on without their state, and what it routed for them is in
   * its own copy: applied here, a session it delivered the publish to would get it twice. A node
   * whose registration this node never saw end, or whose record has no `routedFrom`, is taken as
   * current.
   */
  routedUnderEndedRegistration(nodeId: string, routed: number): boolean {
    if (this.ended.has(nodeId)) return true
    const from = this.nodes.get(nodeId)?.routedFrom
    return from !== undefined && routed < from
  }

  /**
   * Registers this node on the lease, then loads and watches the membership. `routingMark` (if
   * given) is asked on every new lease for this node's routing count from then on (`routedFrom`).
   */
  async start(routingMark?: () => number): Promise<void> {
    const mark = (): void => {
      if (routingMark !== undefined) this.self = { ...this.self, routedFrom: routingMark() }
    }
    mark()
    await this.register(this.lease.requireId())
    this.stopGranted = this.lease.onGranted((leaseId) => {
      mark()
      this.register(leaseId).catch((error: unknown) => this.log.error({ err: describeCause(error) }, 'node registration on the new lease failed'))
    })
    await this.watch.start()
  }

  /**
   * Writes this node's record again with `changes` (client addresses bound after start, the
   * leaving mark); every later re-registration carries them too.
   */
  async update(changes: Partial<Pick<NodeInfo, 'clientAddrs' | 'leaving'>>): Promise<void> {
    this.self = { ...this.self, ...changes }
    await this.register(this.lease.requireId())
  }

  /** Deletes this node's registration (a clean leave) and stops watching. */
  async stop(): Promise<void> {
    this.stopGranted()
    await this.watch.stop()
    try {
      await this.etcd.delete().key(nodeKey(this.self.nodeId)).exec()
    } catch (error) {
      // The key is on the lease: it goes when the lease is revoked or expires.
      this.log.warn({ err: describeCause(error) }, 'node deregistration failed')
    }
  }

  private async register(leaseId: string): Promise<void> {
    try {
      await this.etcd.put(nodeKey(this.self.nodeId)).value(JSON.stringify(this.self)).lease(leaseId).exec()
    } catch (error) {
      throw new ClusterError(ClusterErrorCode.EtcdUnavailable, `registering node ${this.self.nodeId} failed: ${describeCause(error)}`, { cause: error })
    }
    this.log.info({ transportAddr: this.self.transportAddr }, 'node registered')
  }

  private onPut(key: string, value: Buffer): void {
    const nodeId = parseLeafKey(NODES, key)
    const info = nodeId === undefined ? undefined : parseNodeInfo(nodeId, value)
    if (nodeId === undefined || info === undefined) {
      this.log.warn({ key }, 'ignoring a node record of an unknown shape')
      return
    }
    const known = this.nodes.get(nodeId)
    // The same record written again (on a new lease) is no news to peers.
    if (known !== undefined && JSON.stringify(known) === JSON.stringify(info)) return
    this.ended.delete(nodeId)
    this.nodes.set(nodeId, info)
    this.joined.emit(info)
  }

  private onDelete(key: string): void {
    const nodeId = parseLeafKey(NODES, key)
    if (nodeId === undefined || !this.nodes.delete(nodeId)) return
    this.ended.add(nodeId)
    this.left.emit(nodeId)
  }
}

function parseNodeInfo(nodeId: string, value: Buffer): NodeInfo | undefined {
  try {
    const record = JSON.parse(value.toString('utf8')) as Partial<NodeInfo>
    if (record.nodeId !== nodeId || typeof record.transportAddr !== 'string' || typeof record.version !== 'string') return undefined
    if (typeof record.clientAddrs !== 'object' || record.clientAddrs === null) return undefined
    const info: NodeInfo = {
      nodeId,
      transportAddr: record.transportAddr,
      clientAddrs: record.clientAddrs,
      version: record.version,
      ...(record.leaving === true ? { leaving: true } : {}),
      ...(typeof record.routedFrom === 'number' ? { routedFrom: record.routedFrom } : {}),
    }
    return info
  } catch {
    return undefined
  }
}
