import { Cleanup, RecordingLogger, until, withTimeout } from '@fluxmq/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ClusterErrorCode } from './errors.js'
import { EtcdMember } from './etcd-member.js'
import { parseRouteKey, routeKey } from './keyspace.js'
import { NodeLease } from './node-lease.js'
import { type RouteChange, RouteTable } from './route-table.js'
import { type TestEtcdCluster, startEtcdCluster } from './test-support/etcd-cluster.js'

const cleanup = new Cleanup()
let etcd: TestEtcdCluster
beforeAll(async () => {
  etcd = await startEtcdCluster(cleanup, 3)
})
afterAll(() => cleanup.run())

interface TestNode {
  readonly lease: NodeLease
  readonly routes: RouteTable
  readonly changes: RouteChange[]
}

/** Three nodes of one cluster, each on its own etcd member. */
async function startNodes(cluster: string): Promise<[TestNode, TestNode, TestNode]> {
  const nodes = await Promise.all(
    ['n1', 'n2', 'n3'].map(async (nodeId, i) => {
      const logger = new RecordingLogger()
      const { namespace } = etcd.connect(cluster, [etcd.endpoints[i] as string])
      const lease = cleanup.add(new NodeLease(namespace, { nodeId, ttlSeconds: 3, logger }), (l) => l.stop())
      await lease.start()
      const routes = cleanup.add(new RouteTable(namespace, lease, { nodeId, logger, countRefreshMs: 100 }), (r) => r.stop())
      const changes: RouteChange[] = []
      routes.onChange((change) => changes.push(change))
      await routes.start()
      return { lease, routes, changes }
    }),
  )
  return nodes as [TestNode, TestNode, TestNode]
}


async function routeKeys(cluster: string): Promise<Record<string, string>> {
  return etcd.connect(cluster).namespace.getAll().prefix('routes/').strings()
}

describe('RouteTable', () => {
  it('keeps one key per filter per node however many local subscribers, visible on every node within 1 s', async () => {
    const [n1, n2, n3] = await startNodes('routes-a')
    const filter = 'sensors/+/temp'
    const first = Date.now()
    await n1.routes.add(filter)
    await until(() => n2.routes.nodesFor(filter).has('n1') && n3.routes.nodesFor(filter).has('n1'), 'the route on n2 and n3', 1_000)
    expect(Date.now() - first).toBeLessThan(1_000)
    for (let i = 1; i < 10_000; i++) void n1.routes.add(filter)
    expect(n1.routes.localCount(filter)).toBe(10_000)
    // The count reaches etcd on the refresh, still as the one key.
    await until(async () => (await routeKeys('routes-a'))[routeKey(filter, 'n1')] === '10000', 'the count in etcd')
    expect(Object.keys(await routeKeys('routes-a'))).toEqual([routeKey(filter, 'n1')])

    await n2.routes.add(filter)
    await until(() => n3.routes.nodesFor(filter).size === 2, 'n1 and n2 behind the filter on n3')
    for (let i = 0; i < 9_999; i++) void n1.routes.remove(filter)
    await n1.routes.remove(filter)
    await until(() => !n3.routes.nodesFor(filter).has('n1'), 'n1 gone from the filter on n3')
    expect([...n3.routes.nodesFor(filter)]).toEqual(['n2'])
    expect(n3.changes.filter((c) => c.nodeId === 'n1')).toEqual([
      { type: 'added', filter, nodeId: 'n1' },
      { type: 'removed', filter, nodeId: 'n1' },
    ])
  })

  it('encodes filters with /, +, #, $share, % and non-ASCII so none collides with another', async () => {
    const [n1, n2] = await startNodes('routes-b')
    const filters = ['#', '+', 'a', 'a/b', 'a/#', 'a//b', '/a', '$share/g/a/+', '$SYS/#', 'ab', 'a%2Fb', 'ü/日本/+']
    await Promise.all(filters.map((filter) => n1.routes.add(filter)))
    await until(() => n2.routes.filters.size === filters.length, 'every filter on n2')
    expect([...n2.routes.filters.keys()].sort()).toEqual([...filters].sort())
    for (const filter of filters) {
      expect(n2.routes.nodesFor(filter)).toEqual(new Set(['n1']))
      expect(parseRouteKey(routeKey(filter, 'n1'))).toEqual({ filter, nodeId: 'n1' })
    }
    await n1.routes.remove('a')
    await until(() => !n2.routes.filters.has('a'), "'a' removed")
    expect(n2.routes.nodesFor('a/b')).toEqual(new Set(['n1']))
    expect(n2.routes.nodesFor('ab')).toEqual(new Set(['n1']))
  })

  it('writes every local route again on the new lease after the old one was lost', async () => {
    const [n1, n2] = await startNodes('routes-c')
    await n1.routes.add('x/#')
    await n1.routes.add('y')
    await until(() => n2.routes.filters.size === 2, 'two routes on n2')
    const regranted = new Promise<string>((resolve) => n1.lease.onGranted(resolve))
    // Someone (an operator, or etcd after a long partition) ends the lease: its keys vanish at once.
    await etcd.connect('routes-c').namespace.leaseClient.leaseRevoke({ ID: n1.lease.requireId() })
    await until(() => n2.routes.filters.size === 0, 'the routes gone with the lease')
    await withTimeout(regranted, 10_000, 'the lease re-granted')
    await until(() => n2.routes.nodesFor('x/#').has('n1') && n2.routes.nodesFor('y').has('n1'), 'the routes back on the new lease')
  })

  it('keeps retrying a route write that failed while its etcd member was down', async () => {
    const [n1, , n3] = await startNodes('routes-d')
    const member = etcd.members[2] as EtcdMember
    await member.stop()
    await expect(n3.routes.add('outage/#')).rejects.toMatchObject({ code: ClusterErrorCode.EtcdUnavailable })
    const revived = cleanup.add(new EtcdMember({ ...member.options }), (m) => m.stop())
    await revived.start()
    await until(() => n1.routes.nodesFor('outage/#').has('n3'), 'the route written once etcd is back', 20_000)
  })
})
