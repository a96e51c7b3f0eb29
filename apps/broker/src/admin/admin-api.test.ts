import type { SessionInfo } from '@fluxmq/core'
import { describe, expect, it } from 'vitest'
import { BadAdminQuery } from '../http/server.js'
import { createAdminApi } from './admin-api.js'

const infos: SessionInfo[] = ['a', 'b', 'c'].map((clientId) => ({
  clientId,
  protocol: 'mqtt5',
  connected: clientId === 'a',
  expiryInterval: 0xffff_ffff,
  ...(clientId === 'a' ? { username: 'ua', remoteAddress: '127.0.0.1:1' } : { disconnectedAt: 0 }),
  subscriptions: [{ filter: `${clientId}/#`, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
  inflight: 2,
  queued: 3,
  willPending: false,
}))
const source = { sessions: () => infos, session: (id: string) => infos.find((info) => info.clientId === id) }
const queue = {
  name: 'orders',
  type: 'classic' as const,
  declared: true,
  depth: 3,
  bytes: 30,
  firstOffset: 0,
  nextOffset: 3,
  pending: 1,
  groups: [{ name: 'billing', committedOffset: 1, nextOffset: 2, pending: 1, backlog: 1, consumers: [{ id: 'c1/$queue/orders', credit: 9, unsettled: 1 }] }],
  counters: { appended: 3, deliveries: 2, redeliveries: 0, acks: 1, nacks: 0, timeouts: 0, deadLettered: 0, expired: 0, truncated: 0 },
}
const queues = { list: () => [queue], stats: (name: string) => (name === 'orders' ? queue : undefined) }
const api = createAdminApi(source, queues, { nodeId: 'n1', clusterName: 'fluxmq', version: '1.2.3', startedAt: 0, now: () => 61_000, listeners: () => ({ 'mqtt-tcp': '127.0.0.1:1883' }) })

describe('admin API', () => {
  it('pages sessions with limit and offset', () => {
    expect(api.sessions(new URLSearchParams('limit=2&offset=1'))).toMatchObject({ total: 3, offset: 1, limit: 2, items: [{ clientId: 'b' }, { clientId: 'c' }] })
    expect(api.sessions(new URLSearchParams())).toMatchObject({ total: 3, limit: 100 })
  })

  it('summarizes a session', () => {
    expect(api.sessions(new URLSearchParams('limit=1'))).toMatchObject({
      items: [{ clientId: 'a', username: 'ua', protocol: 'mqtt5', connected: true, remoteAddress: '127.0.0.1:1', disconnectedAt: null, expiryInterval: 0xffff_ffff, subscriptions: 1, inflight: 2, queued: 3, willPending: false }],
    })
  })

  it.each(['limit=-1', 'limit=1.5', 'limit=20000', 'offset=x'])('refuses %s', (query) => {
    expect(() => api.sessions(new URLSearchParams(query))).toThrow(BadAdminQuery)
  })

  it('lists subscriptions of every session', () => {
    expect(api.subscriptions(new URLSearchParams('limit=1&offset=1'))).toMatchObject({ total: 3, items: [{ clientId: 'b', filter: 'b/#', qos: 1 }] })
  })

  it('describes this node as the whole (single-node) cluster', () => {
    expect(api.nodes()).toEqual([{ id: 'n1', self: true, status: 'up', version: '1.2.3', startedAt: '1970-01-01T00:00:00.000Z', uptimeSeconds: 61, listeners: { 'mqtt-tcp': '127.0.0.1:1883' } }])
    expect(api.cluster()).toEqual({ name: 'fluxmq', enabled: false, leader: 'n1', nodes: ['n1'] })
  })

  it('lists queues with depth, groups, consumers and pending; one queue in full', () => {
    expect(api.queues()).toEqual([{ name: 'orders', type: 'classic', declared: true, depth: 3, bytes: 30, pending: 1, groups: 1, consumers: 1 }])
    expect(api.queue('orders')).toMatchObject({ name: 'orders', consumers: 1, groups: [{ name: 'billing', pending: 1, consumers: [{ id: 'c1/$queue/orders' }] }], counters: { acks: 1 } })
    expect(api.queue('none')).toBeUndefined()
  })

  it('answers one session with its subscriptions, undefined for unknown ids', () => {
    expect(api.session('b')).toMatchObject({ clientId: 'b', connected: false, disconnectedAt: '1970-01-01T00:00:00.000Z', subscriptions: [{ filter: 'b/#' }] })
    expect(api.session('zz')).toBeUndefined()
  })
})
