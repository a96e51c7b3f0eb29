import type { AmqpConnectionInfo } from '@fluxmq/amqp'
import type { SessionInfo, SubscriptionOptions } from '@fluxmq/core'
import type { QueueStats } from '@fluxmq/queue'
import { BadAdminQuery } from '../http/server.js'
import type { AdminApi } from '../http/server.js'

const DEFAULT_LIMIT = 100
const MAX_LIMIT = 10_000

/** Where session snapshots come from: the core Broker's admin views. */
export interface SessionSource {
  sessions(): readonly SessionInfo[]
  session(clientId: string): SessionInfo | undefined
}

/** Where queue snapshots come from: the queue engine. */
export interface QueueSource {
  list(): readonly QueueStats[]
  stats(name: string): QueueStats | undefined
}

export interface NodeFacts {
  readonly nodeId: string
  readonly clusterName: string
  readonly version: string
  readonly startedAt: number
  /** Listener name → bound "host:port". */
  readonly listeners: () => Readonly<Record<string, string>>
  readonly now: () => number
  /** In a cluster: the registered members, the leader, the nodes gone dead, the leaving ones, whether this node holds its lease, and the transport peers as this node sees them. */
  readonly cluster?: () => {
    readonly members: readonly string[]
    readonly peers: readonly object[]
    readonly leader: string | null
    readonly dead: readonly { readonly nodeId: string; readonly since: number }[]
    readonly leaving: readonly string[]
    readonly leaseHeld: boolean
  }
  /** The AMQP connections open now and their links; none when the AMQP front is not composed. */
  readonly amqp?: () => readonly AmqpConnectionInfo[]
}

function iso(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString()
}

/** `limit` (1..10000, default 100) and `offset` (default 0) from the query string. */
function paging(query: URLSearchParams): { offset: number; limit: number } {
  const number = (name: string, fallback: number, max: number): number => {
    const text = query.get(name)
    if (text === null) return fallback
    const value = Number(text)
    if (!/^\d+$/.test(text) || value > max) throw new BadAdminQuery(`${name} must be an integer from 0 to ${max}`)
    return value
  }
  return { offset: number('offset', 0, Number.MAX_SAFE_INTEGER), limit: Math.max(1, number('limit', DEFAULT_LIMIT, MAX_LIMIT)) }
}

function page<T>(items: readonly T[], query: URLSearchParams): { total: number; offset: number; limit: number; items: T[] } {
  const { offset, limit } = paging(query)
  return { total: items.length, offset, limit, items: items.slice(offset, offset + limit) }
}

function sessionSummary(info: SessionInfo) {
  return {
    clientId: info.clientId,
    username: info.username ?? null,
    protocol: info.protocol,
    connected: info.connected,
    remoteAddress: info.remoteAddress ?? null,
    disconnectedAt: iso(info.disconnectedAt),
    expiryInterval: info.expiryInterval,
    subscriptions: info.subscriptions.length,
    inflight: info.inflight,
    queued: info.queued,
    willPending: info.willPending,
  }
}

function subscriptionView(sub: SubscriptionOptions) {
  return {
    filter: sub.filter,
    qos: sub.qos,
    noLocal: sub.noLocal,
    retainAsPublished: sub.retainAsPublished,
    retainHandling: sub.retainHandling,
    subscriptionId: sub.subscriptionId ?? null,
  }
}

/** One line per queue: depth, groups, consumers and pending counts. */
function queueSummary(q: QueueStats) {
  return {
    name: q.name,
    type: q.type,
    declared: q.declared,
    depth: q.depth,
    bytes: q.bytes,
    pending: q.pending,
    groups: q.groups.length,
    consumers: q.groups.reduce((n, g) => n + g.consumers.length, 0),
  }
}

/** The admin API of a single node: itself as the whole cluster, its sessions, its queues. */
export function createAdminApi(source: SessionSource, queues: QueueSource, node: NodeFacts): AdminApi {
  const self = () => ({
    id: node.nodeId,
    self: true,
    status: 'up',
    version: node.version,
    startedAt: iso(node.startedAt),
    uptimeSeconds: Math.floor((node.now() - node.startedAt) / 1000),
    listeners: node.listeners(),
  })
  return {
    cluster: () => {
      if (node.cluster === undefined) return { name: node.clusterName, enabled: false, leader: node.nodeId, nodes: [node.nodeId] }
      const { members, peers, leader, dead, leaving, leaseHeld } = node.cluster()
      return {
        name: node.clusterName,
        enabled: true,
        leader,
        nodes: members,
        dead: dead.map((d) => ({ node: d.nodeId, state: 'dead', since: iso(d.since) })),
        leaving,
        leaseHeld,
        peers,
      }
    },
    nodes: () => [self()],
    sessions: (query) => page(source.sessions().map(sessionSummary), query),
    session: (clientId) => {
      const info = source.session(clientId)
      return info === undefined ? undefined : { ...sessionSummary(info), subscriptions: info.subscriptions.map(subscriptionView) }
    },
    subscriptions: (query) => page(source.sessions().flatMap((info) => info.subscriptions.map((sub) => ({ clientId: info.clientId, ...subscriptionView(sub) }))), query),
    queues: () => queues.list().map(queueSummary),
    amqp: () => (node.amqp?.() ?? []).map((c) => ({ container: c.container, remoteAddress: c.remoteAddress ?? null, username: c.username ?? null, links: c.links })),
    queue: (name) => {
      const q = queues.stats(name)
      return q === undefined ? undefined : { ...queueSummary(q), firstOffset: q.firstOffset, nextOffset: q.nextOffset, groups: q.groups, counters: q.counters }
    },
  }
}
