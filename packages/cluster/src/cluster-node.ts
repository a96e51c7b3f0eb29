import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from '@fluxmq/core'
import {
  EtcdMember,
  LeaderElection,
  NodeLease,
  NodeRegistry,
  RetainedIndex,
  RouteTable,
  SessionOwnership,
  SubscriptionStore,
  WillIndex,
  connectEtcd,
  type EtcdConnection,
} from '@fluxmq/cluster-etcd'
import { PeerSet, TransportServer, type InboundHandlers, type PeerState, type TlsFiles } from '@fluxmq/cluster-transport'
import { ClusterNodeError, ClusterNodeErrorCode } from './errors.js'
import { EtcdCluster } from './etcd-cluster.js'
import { LeaderTasks } from './leader-tasks.js'
import { QuorumGuard } from './quorum-guard.js'
import { GracefulLeave } from './graceful-leave.js'
import { RetainedSync } from './retained-sync.js'

export interface EmbeddedEtcdOptions {
  readonly binary: string
  readonly dataDir: string
  /** host:port of the member's client and peer listeners. */
  readonly clientAddr: string
  readonly peerAddr: string
  /** `n1=http://host:2380,…`; empty: this node alone. */
  readonly initialCluster: string
}

export interface ClusterNodeOptions {
  readonly nodeId: string
  readonly clusterName: string
  readonly version: string
  /** Client listeners by name, as configured (shown to operators in `nodes/`). */
  readonly clientAddrs: Readonly<Record<string, string>>
  readonly logger: Logger
  readonly etcd: {
    /** Start and supervise a local member; undefined: use `endpoints`. */
    readonly embedded: EmbeddedEtcdOptions | undefined
    readonly endpoints: readonly string[]
    readonly leaseTtlMs: number
    /** `cluster.etcd.hybrid_retained_size_threshold`: retained payloads up to this size are inline in etcd. */
    readonly retainedThresholdBytes: number
  }
  readonly transport: {
    /** Where the transport server listens; host '' = every interface, port 0 = a free one. */
    readonly host: string
    readonly port: number
    /** host:port peers dial; '' = 127.0.0.1:<bound port>. */
    readonly advertiseAddr: string
    readonly tls: TlsFiles | undefined
  }
  /** The storage's sync: a forwarded batch is acknowledged once what it staged is durable. */
  readonly sync: () => Promise<void>
}

export interface ClusterReport {
  readonly nodeId: string
  readonly registered: boolean
  readonly transportAddr: string
  readonly members: readonly string[]
  /** Members that began a graceful leave (this one included). */
  readonly leaving: readonly string[]
  /** False while this node cannot prove its lease alive (etcd unreachable or partitioned away): it owns nothing then. */
  readonly leaseHeld: boolean
  readonly peers: readonly PeerState[]
  /** The leader this node sees; null while the seat is vacant. */
  readonly leader: string | null
  /** Nodes that were members while this node watched and whose registration vanished (lease expired or left). */
  readonly dead: readonly { readonly nodeId: string; readonly since: number }[]
  /** Why this node cannot serve new sessions now (no etcd quorum, lease lost); undefined when it can. */
  readonly unhealthy: string | undefined
}

/** How long a graceful leave waits for its `leaving` mark to be written. */
const LEAVING_MARK_TIMEOUT_MS = 1_000
/**
 * How long a leave without etcd quorum waits for each of its etcd writes (resign, deregister,
 * revoke): each would wait out its call deadline, and the keys go with the lease anyway.
 */
const NO_QUORUM_WRITE_WAIT_MS = 500
/**
 * How long a leave with etcd quorum waits for each of those writes: they take milliseconds, but
 * quorum can go during the leave (the other nodes stopping at once), and then each would wait out
 * its call deadline too.
 */
const WRITE_WAIT_MS = 3_000
/**
 * How long the embedded member gets to stop without quorum before SIGKILL instead of the default
 * 10 s: its graceful stop may hang then, and its WAL is crash-safe.
 */
const NO_QUORUM_MEMBER_STOP_MS = 2_000

/**
 * One node's membership in the cluster: the embedded etcd member (or a client of an external
 * cluster), the node lease, the route table, the transport server and one peer per other node,
 * composed into the core's `Cluster` (`cluster`). Order: `start()` before the broker starts
 * (the broker claims its stored sessions through it), `join()` once the broker serves (the node
 * becomes visible to peers), `leave()` after the broker stopped.
 */
export class ClusterNode {
  readonly cluster: EtcdCluster
  private registeredAt: number | undefined
  private readonly stopMembershipWatch: (() => void)[] = []
  private readonly ownership: SessionOwnership
  private readonly quorum: QuorumGuard
  private readonly election: LeaderElection
  private readonly leaderTasks: LeaderTasks
  /** Node id → when its registration vanished without a graceful leave, while it stays away. */
  private readonly departed = new Map<string, number>()
  /** Members whose record says they are leaving: their registration vanishing is a leave, not a death. */
  private readonly leavingNodes = new Set<string>()
  private electing = false

  private constructor(
    private readonly options: ClusterNodeOptions,
    private readonly member: EtcdMember | undefined,
    private readonly etcd: EtcdConnection,
    private readonly lease: NodeLease,
    private readonly routes: RouteTable,
    private readonly retained: RetainedIndex,
    private readonly server: TransportServer,
    private readonly registry: NodeRegistry,
    private readonly peers: PeerSet,
    readonly transportAddr: string,
  ) {
    const { nodeId, logger } = options
    this.ownership = new SessionOwnership(etcd.namespace, lease, { nodeId, logger })
    const subscriptions = new SubscriptionStore(etcd.namespace, this.ownership, nodeId)
    const wills = new WillIndex(etcd.namespace, { nodeId, logger, thresholdBytes: options.etcd.retainedThresholdBytes })
    this.quorum = new QuorumGuard(etcd.namespace, { nodeId, logger, intervalMs: Math.min(2_000, Math.max(500, options.etcd.leaseTtlMs / 5)) })
    this.election = new LeaderElection(etcd.namespace, lease, { nodeId, logger })
    this.cluster = new EtcdCluster({
      nodeId: options.nodeId,
      lease,
      ownership: this.ownership,
      routes,
      peers,
      members: () => registry.members.keys(),
      sync: options.sync,
      retained: new RetainedSync(retained, { nodeId: options.nodeId, thresholdBytes: options.etcd.retainedThresholdBytes, peers, logger: options.logger }),
      subscriptions,
      wills,
      quorum: this.quorum,
      routedUnderEndedRegistration: (node, routed) => registry.routedUnderEndedRegistration(node, routed),
      logger: options.logger,
    })
    this.leaderTasks = new LeaderTasks({
      nodeId,
      election: this.election,
      wills,
      subscriptions,
      ownership: this.ownership,
      isMember: (node) => registry.members.has(node),
      publish: (message) => this.cluster.publishOrphanWill(message),
      adopt: (clientIds) => this.cluster.adoptOrphans(clientIds, (node) => registry.members.has(node)),
      logger,
    })
  }

  /**
   * Starts the etcd member (embedded) and waits for its quorum, takes the node lease, loads the
   * route table and listens for peers. Anything started is stopped again when a step fails.
   */
  static async start(options: ClusterNodeOptions): Promise<ClusterNode> {
    const { nodeId, logger } = options
    const undo: (() => Promise<void> | void)[] = []
    try {
      let endpoints = options.etcd.endpoints
      let member: EtcdMember | undefined
      const embedded = options.etcd.embedded
      if (embedded !== undefined) {
        member = new EtcdMember({ name: nodeId, logger, ...embedded })
        undo.push(() => member?.stop())
        await member.start()
        endpoints = [member.clientUrl]
      }
      const etcd = connectEtcd(options.clusterName, { endpoints: endpoints.map(withScheme) })
      undo.push(() => etcd.close())
      const lease = new NodeLease(etcd.namespace, { nodeId, ttlSeconds: Math.max(1, Math.round(options.etcd.leaseTtlMs / 1000)), logger })
      await lease.start()
      undo.push(() => lease.stop())
      const routes = new RouteTable(etcd.namespace, lease, { nodeId, logger })
      await routes.start()
      undo.push(() => routes.stop())
      const retained = new RetainedIndex(etcd.namespace, { nodeId, logger, thresholdBytes: options.etcd.retainedThresholdBytes })
      await retained.start()
      undo.push(() => retained.stop())
      const peers = new PeerSet({ localNode: nodeId, logger, ...(options.transport.tls === undefined ? {} : { tls: options.transport.tls }) })
      undo.push(() => peers.close())
      // The server calls the cluster's handlers, which exist only once the node is built; a
      // request before that is refused with NotReady and the sender retries.
      const built: { node?: ClusterNode } = {}
      const handlers = (): InboundHandlers => {
        const node = built.node
        if (node === undefined) throw new ClusterNodeError(ClusterNodeErrorCode.NotReady, `node ${nodeId} is starting`)
        return node.cluster.handlers
      }
      const server = new TransportServer({
        nodeId,
        host: options.transport.host === '' ? '0.0.0.0' : options.transport.host,
        port: options.transport.port,
        logger,
        ...(options.transport.tls === undefined ? {} : { tls: options.transport.tls }),
        handlers: {
          publishBatch: (batch) => handlers().publishBatch(batch),
          takeOver: (request) => handlers().takeOver(request),
          fetchPayload: (request) => handlers().fetchPayload(request),
        },
      })
      const bound = await server.listen()
      undo.push(() => server.close())
      const transportAddr = options.transport.advertiseAddr !== '' ? options.transport.advertiseAddr : `127.0.0.1:${bound.port}`
      const registry = new NodeRegistry(etcd.namespace, lease, { nodeId, transportAddr, clientAddrs: options.clientAddrs, version: options.version }, logger)
      built.node = new ClusterNode(options, member, etcd, lease, routes, retained, server, registry, peers, transportAddr)
      return built.node
    } catch (error) {
      for (const step of undo.reverse()) await Promise.resolve(step()).catch(() => undefined)
      throw error
    }
  }

  /**
   * Registers the node in `nodes/` and follows the membership: one transport peer per other
   * node. Resolves once the registration is written and the member list loaded, and, with
   * `loadRetained`, once the cluster's retained messages are in the local broker (for a broker
   * that starts empty: they are routed to local subscriptions as they are stored, so a broker that
   * restored stored sessions would queue them again).
   */
  async join(options: { readonly loadRetained: boolean }): Promise<void> {
    const follow = (): void => {
      this.peers.update([...this.registry.members.values()].map((info) => ({ nodeId: info.nodeId, address: info.transportAddr })))
    }
    this.stopMembershipWatch.push(
      this.registry.onJoined((info) => {
        this.departed.delete(info.nodeId)
        if (info.leaving === true) this.leavingNodes.add(info.nodeId)
        else this.leavingNodes.delete(info.nodeId)
        follow()
      }),
      this.registry.onLeft((nodeId) => {
        if (!this.leavingNodes.delete(nodeId)) {
          this.departed.set(nodeId, Date.now())
          this.cluster.nodeDied(nodeId)
        }
        follow()
        this.leaderTasks.nodeLeft(nodeId)
      }),
    )
    await this.registry.start(() => this.cluster.newRegistration())
    follow()
    this.quorum.start()
    // After the membership is known: the leader tells dead nodes from live ones by it.
    this.leaderTasks.start()
    this.electing = true
    await this.election.start()
    if (options.loadRetained) {
      const loaded = await this.cluster.loadRetained()
      this.options.logger.info({ nodeId: this.options.nodeId, retained: loaded }, 'retained messages loaded from the cluster')
    }
    this.registeredAt = Date.now()
    this.options.logger.info({ nodeId: this.options.nodeId, members: [...this.registry.members.keys()] }, 'cluster joined')
  }

  get registered(): boolean {
    return this.registeredAt !== undefined
  }

  report(): ClusterReport {
    return {
      nodeId: this.options.nodeId,
      registered: this.registered,
      transportAddr: this.transportAddr,
      // In node-id order: the registry's order follows when records were (re)written.
      members: [...this.registry.members.keys()].sort(),
      leaving: [...this.registry.members.values()].filter((info) => info.leaving === true).map((info) => info.nodeId),
      leaseHeld: this.lease.id !== undefined,
      peers: this.peers.states,
      leader: this.election.leader ?? null,
      dead: [...this.departed].map(([nodeId, since]) => ({ nodeId, since })),
      unhealthy: this.health(),
    }
  }

  /** Why this node cannot take new sessions now; undefined when it can (what /ready reports). */
  health(): string | undefined {
    if (this.lease.id === undefined) return 'node lease lost (etcd unreachable or without quorum)'
    if (!this.quorum.quorate) return 'etcd has no quorum'
    return undefined
  }

  /**
   * The client listeners as bound (a configured port 0 becomes the real one), written to this
   * node's record: a leaving node names them to the clients it sends away.
   */
  async advertiseClients(clientAddrs: Readonly<Record<string, string>>): Promise<void> {
    await this.registry.update({ clientAddrs })
  }

  /**
   * Begins a graceful leave: marks this node `leaving` in its record (peers stop naming it; `ctl
   * cluster` shows it) and returns the drain to run while its clients move. The node stays a member,
   * answering takeovers, until `leave()`. A mark that cannot be written within a second (etcd
   * unreachable: the shutdown must not hang on it) is logged: the drain works without it. Without
   * quorum or lease it is not tried: that second was a quarter of such a shutdown.
   */
  async beginLeave(): Promise<GracefulLeave> {
    const unusable = this.health()
    if (this.registered && unusable !== undefined) this.options.logger.warn({ nodeId: this.options.nodeId, reason: unusable }, 'leaving mark not written: etcd does not answer this node')
    else if (this.registered) {
      const marked = this.registry.update({ leaving: true }).then(
        () => 'written' as const,
        (err: unknown) => {
          this.options.logger.warn({ err, nodeId: this.options.nodeId }, 'could not mark this node leaving')
          return 'failed' as const
        },
      )
      const timer = new AbortController()
      const late = sleep(LEAVING_MARK_TIMEOUT_MS, 'late' as const, { signal: timer.signal }).catch(() => 'late' as const)
      const outcome = await Promise.race([marked, late])
      timer.abort()
      if (outcome === 'late') this.options.logger.warn({ nodeId: this.options.nodeId }, 'leaving mark not written in time; leaving without it')
    }
    return new GracefulLeave({
      nodeId: this.options.nodeId,
      members: () => this.registry.members,
      owned: () => this.cluster.ownedSessions,
      quorate: () => this.quorum.quorate,
      logger: this.options.logger,
    })
  }

  /**
   * Leaves cleanly: deregisters, closes the peers and the server, revokes the lease (so this
   * node's routes and session keys vanish at once instead of after the TTL) and stops the member.
   */
  async leave(): Promise<void> {
    for (const stop of this.stopMembershipWatch.splice(0)) stop()
    // The lease can be declared lost (4/5 TTL after the last keepalive answered) before the quorum
    // probe has failed twice: either way etcd does not answer this node, and each write below
    // would wait out its whole bound (12 s of shutdown instead of 2 in one CI run).
    const unusable = this.health()
    const quorate = unusable === undefined
    this.cluster.detach()
    this.quorum.stop()
    this.leaderTasks.stop()
    if (!quorate) this.options.logger.warn({ nodeId: this.options.nodeId, reason: unusable }, 'leaving without etcd quorum or node lease: leadership, registration and lease are left to expire with the lease')
    // Steps marked true write to etcd: waited for a bounded time (the etcd client's close cancels
    // what is left; the keys go with the lease).
    const steps: [string, () => Promise<void> | void, boolean][] = [
      // Resigned first, so another node leads at once instead of one TTL later.
      ['leader election', () => (this.electing ? this.election.stop() : undefined), true],
      ['registry', () => (this.registered ? this.registry.stop() : undefined), true],
      ['peers', () => this.peers.close(), false],
      ['transport server', () => this.server.close(), false],
      ['routes', () => this.routes.stop(), false],
      ['retained index', () => this.retained.stop(), false],
      ['lease', () => this.lease.stop(), true],
      ['etcd client', () => this.etcd.close(), false],
      ['etcd member', () => this.member?.stop(quorate ? undefined : NO_QUORUM_MEMBER_STOP_MS), false],
    ]
    const writeWaitMs = quorate ? WRITE_WAIT_MS : NO_QUORUM_WRITE_WAIT_MS
    for (const [what, step, writes] of steps) {
      try {
        const done = step()
        if (writes && done !== undefined) {
          void done.catch(() => undefined)
          const timer = new AbortController()
          const finished = await Promise.race([done.then(() => true), sleep(writeWaitMs, false, { signal: timer.signal }).catch(() => false)])
          timer.abort()
          if (!finished && quorate) this.options.logger.warn({ nodeId: this.options.nodeId, step: what, waitedMs: writeWaitMs }, 'cluster leave step not done in time (etcd quorum lost meanwhile?); left to expire with the lease')
        } else await done
      } catch (err) {
        this.options.logger.warn({ err, nodeId: this.options.nodeId, step: what }, 'cluster leave step failed')
      }
    }
    this.options.logger.info({ nodeId: this.options.nodeId }, 'cluster left')
  }
}

/** etcd3 wants URLs; `cluster.etcd.endpoints` also accepts bare host:port. */
function withScheme(endpoint: string): string {
  return /^https?:\/\//.test(endpoint) ? endpoint : `http://${endpoint}`
}
