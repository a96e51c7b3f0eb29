import type { SubscriptionOptions } from '@fluxmq/core'
import { BadAdminQuery } from '../http/server.js'
import type { AdminApi } from '../http/server.js'
import type { SessionDirectory, SessionEntry } from './session-directory.js'

const DEFAULT_LIMIT = 100
const MAX_LIMIT = 10_000

export interface NodeFacts {
  readonly nodeId: string
  readonly clusterName: string
  readonly version: string
  readonly startedAt: number
  /** Listener name → bound "host:port". */
  readonly listeners: () => Readonly<Record<string, string>>
  readonly now: () => number
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

function page<T>(items: Iterable<T>, query: URLSearchParams): { total: number; offset: number; limit: number; items: T[] } {
  const { offset, limit } = paging(query)
  const out: T[] = []
  let total = 0
  for (const item of items) {
    if (total >= offset && out.length < limit) out.push(item)
    total++
  }
  return { total, offset, limit, items: out }
}

function sessionSummary(entry: SessionEntry) {
  return {
    clientId: entry.clientId,
    username: entry.username ?? null,
    protocol: entry.protocol,
    connected: entry.connected,
    remoteAddress: entry.remoteAddress ?? null,
    connectedAt: iso(entry.connectedAt),
    disconnectedAt: iso(entry.disconnectedAt),
    expiryInterval: entry.expiryInterval,
    subscriptions: entry.subscriptions.size,
  }
}

function subscriptionView(clientId: string | undefined, sub: SubscriptionOptions) {
  return {
    ...(clientId === undefined ? {} : { clientId }),
    filter: sub.filter,
    qos: sub.qos,
    noLocal: sub.noLocal,
    retainAsPublished: sub.retainAsPublished,
    retainHandling: sub.retainHandling,
    subscriptionId: sub.subscriptionId ?? null,
  }
}

function* allSubscriptions(directory: SessionDirectory) {
  for (const entry of directory.all()) for (const sub of entry.subscriptions.values()) yield subscriptionView(entry.clientId, sub)
}

/** The admin API of a single node: itself as the whole cluster, its sessions, no queues yet. */
export function createAdminApi(directory: SessionDirectory, node: NodeFacts): AdminApi {
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
    cluster: () => ({ name: node.clusterName, enabled: false, leader: node.nodeId, nodes: [node.nodeId] }),
    nodes: () => [self()],
    sessions: (query) => page((function* () {
      for (const entry of directory.all()) yield sessionSummary(entry)
    })(), query),
    session: (clientId) => {
      const entry = directory.get(clientId)
      if (entry === undefined) return undefined
      return { ...sessionSummary(entry), subscriptions: [...entry.subscriptions.values()].map((sub) => subscriptionView(undefined, sub)) }
    },
    subscriptions: (query) => page(allSubscriptions(directory), query),
    // Durable queues arrive with their own issue; until then there are none to list.
    queues: () => [],
    queue: () => undefined,
  }
}
