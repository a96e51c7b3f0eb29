import { Cleanup, RecordingLogger, until, withTimeout } from '@fluxmq/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { EtcdConnection } from './client.js'
import { EtcdMember } from './etcd-member.js'
import { NodeLease } from './node-lease.js'
import { type NodeInfo, NodeRegistry } from './node-registry.js'
import { type TestEtcdCluster, startEtcdCluster } from './test-support/etcd-cluster.js'
import { WatchedPrefix } from './watched-prefix.js'

const cleanup = new Cleanup()
let etcd: TestEtcdCluster
beforeAll(async () => {
  etcd = await startEtcdCluster(cleanup, 3)
})
afterAll(() => cleanup.run())

function info(nodeId: string): NodeInfo {
  return { nodeId, transportAddr: `127.0.0.1:7${nodeId.slice(1)}`, clientAddrs: { mqtt: '127.0.0.1:1883' }, version: '0.1.0' }
}

interface TestNode {
  readonly connection: EtcdConnection
  readonly lease: NodeLease
  readonly registry: NodeRegistry
}

/** One node per etcd member, each talking only to its own member, like embedded mode. */
async function startNode(cluster: string, nodeId: string, endpoint: string, routingMark?: () => number): Promise<TestNode> {
  const logger = new RecordingLogger()
  const connection = etcd.connect(cluster, [endpoint])
  const lease = cleanup.add(new NodeLease(connection.namespace, { nodeId, ttlSeconds: 2, logger }), (l) => l.stop())
  await lease.start()
  const registry = cleanup.add(new NodeRegistry(connection.namespace, lease, info(nodeId), logger), (r) => r.stop())
  await registry.start(routingMark)
  return { connection, lease, registry }
}


describe('NodeRegistry', () => {
  it('shows every node to every node, and a clean leave to the others', async () => {
    const nodes = await Promise.all(['n1', 'n2', 'n3'].map((id, i) => startNode('reg-a', id, etcd.endpoints[i] as string)))
    for (const node of nodes) await until(() => node.registry.members.size === 3, 'three members in every view')
    expect(nodes[0]?.registry.members.get('n3')).toEqual(info('n3'))

    const [n1, n2, n3] = nodes as [TestNode, TestNode, TestNode]
    const left = new Promise<string>((resolve) => n1.registry.onLeft(resolve))
    const leftAt = Date.now()
    await n3.registry.stop()
    await n3.lease.stop()
    expect(await withTimeout(left, 5_000, 'n3 to leave')).toBe('n3')
    // A clean leave is a delete, seen at once, not after the 2 s TTL.
    expect(Date.now() - leftAt).toBeLessThan(1_500)
    await until(() => !n2.registry.members.has('n3'), 'n3 gone from n2')
  })

  it('drops a node that stops keeping its lease alive within the TTL', async () => {
    const [n1, n2] = await Promise.all(['n1', 'n2'].map((id, i) => startNode('reg-b', id, etcd.endpoints[i] as string))) as [TestNode, TestNode]
    await until(() => n1.registry.members.size === 2, 'two members')
    const left = new Promise<string>((resolve) => n1.registry.onLeft(resolve))
    const crashedAt = Date.now()
    // A crash: the process stops talking to etcd without revoking anything.
    n2.connection.close()
    expect(await withTimeout(left, 10_000, 'n2 to be dropped')).toBe('n2')
    // etcd checks lease expiry every 500 ms; the rest is slack for a loaded box.
    expect(Date.now() - crashedAt).toBeLessThan(2_000 + 2_500)
  })
})

describe('NodeRegistry.update', () => {
  it('shows the bound client addresses and the leaving mark to the others, and keeps them on a new lease', async () => {
    const [n1, n2] = (await Promise.all(['n1', 'n2'].map((id, i) => startNode('reg-c', id, etcd.endpoints[i] as string)))) as [TestNode, TestNode]
    await until(() => n1.registry.members.size === 2, 'two members')
    await n2.registry.update({ clientAddrs: { mqtt: '127.0.0.1:41883' } })
    await until(() => n1.registry.members.get('n2')?.clientAddrs['mqtt'] === '127.0.0.1:41883', 'the bound address on n1')
    expect(n1.registry.members.get('n2')?.leaving).toBeUndefined()
    await n2.registry.update({ leaving: true })
    await until(() => n1.registry.members.get('n2')?.leaving === true, 'n2 leaving on n1')
    expect(n1.registry.members.get('n2')).toEqual({ ...info('n2'), clientAddrs: { mqtt: '127.0.0.1:41883' }, leaving: true })
  })
})

describe('WatchedPrefix', () => {
  it('resumes a broken watch from its last revision, without a resync', async () => {
    const m2 = etcd.members[1] as EtcdMember
    const writer = etcd.connect('resume', [etcd.endpoints[2] as string]).namespace
    const seen: string[] = []
    const watch = cleanup.add(
      new WatchedPrefix(
        etcd.connect('resume', [m2.clientUrl]).namespace,
        'r/',
        { put: (key, entry) => seen.push(`put ${key}=${entry.value.toString()}`), delete: (key) => seen.push(`delete ${key}`) },
        new RecordingLogger(),
      ),
      (w) => w.stop(),
    )
    await writer.put('r/a').value('1')
    await watch.start()
    await m2.stop()
    await writer.put('r/b').value('1')
    await writer.delete().key('r/a')
    const revived = cleanup.add(new EtcdMember({ ...m2.options }), (m) => m.stop())
    await revived.start()
    await until(() => seen.length === 3, 'the changes made while the member was down', 30_000)
    expect(seen).toEqual(['put r/a=1', 'put r/b=1', 'delete r/a'])
    expect(watch.resyncs).toBe(0)
  })

  it('resyncs once by revision when its watch revision was compacted while its member was down', async () => {
    const [m1] = etcd.members as [EtcdMember]
    const writer = etcd.connect('watch', [etcd.endpoints[1] as string]).namespace
    const seen: string[] = []
    const watch = cleanup.add(
      new WatchedPrefix(
        etcd.connect('watch', [m1.clientUrl]).namespace,
        'w/',
        { put: (key, entry) => seen.push(`put ${key}=${entry.value.toString()}`), delete: (key) => seen.push(`delete ${key}`) },
        new RecordingLogger(),
      ),
      (w) => w.stop(),
    )
    await writer.put('w/a').value('1')
    await writer.put('w/b').value('1')
    await watch.start()
    expect(seen).toEqual(['put w/a=1', 'put w/b=1'])
    seen.length = 0

    await m1.stop()
    await writer.put('w/c').value('1')
    await writer.delete().key('w/a')
    const last = await writer.put('w/b').value('2')
    await writer.put('other').value('noise')
    await writer.put('other').value('noise-2')
    await etcd.connect('watch', [etcd.endpoints[1] as string]).client.kv.compact({ revision: last.header.revision, physical: true })
    const revived = cleanup.add(new EtcdMember({ ...m1.options }), (m) => m.stop())
    await revived.start()

    await until(() => seen.length === 3, 'the three changes after the resync', 30_000)
    expect([...seen].sort()).toEqual(['delete w/a', 'put w/b=2', 'put w/c=1'])
    expect(watch.resyncs).toBe(1)
    expect(new Map([...watch.snapshot].map(([k, v]) => [k, v.value.toString()]))).toEqual(new Map([['w/b', '2'], ['w/c', '1']]))

    // And the new watch is live.
    await writer.put('w/d').value('1')
    await until(() => seen.includes('put w/d=1'), 'a change after the resync')
    expect(watch.resyncs).toBe(1)
  })
})

describe('NodeRegistry.routedUnderEndedRegistration', () => {
  it('tells a routing count from before the sender registered on its current lease, and any while its registration is gone', async () => {
    let count = 100
    const n1 = await startNode('reg-d', 'n1', etcd.endpoints[0] as string)
    const n2 = await startNode('reg-d', 'n2', etcd.endpoints[1] as string, () => ++count)
    await until(() => n1.registry.members.get('n2')?.routedFrom === 101, 'n2 registered with its routing count')
    expect(n1.registry.routedUnderEndedRegistration('n2', 101)).toBe(false)
    expect(n1.registry.routedUnderEndedRegistration('n2', 5_000)).toBe(false)
    expect(n1.registry.routedUnderEndedRegistration('n2', 100)).toBe(true)
    // A node that never published a count, and one never seen, are taken as current.
    expect(n1.registry.routedUnderEndedRegistration('n1', 0)).toBe(false)
    expect(n1.registry.routedUnderEndedRegistration('n9', 0)).toBe(false)

    // Its lease expires: whatever it routed until then, and whatever it sends before it registers again, is refused.
    n2.connection.close()
    await until(() => !n1.registry.members.has('n2'), 'n2 dropped with its lease', 10_000)
    expect(n1.registry.routedUnderEndedRegistration('n2', 101)).toBe(true)
    expect(n1.registry.routedUnderEndedRegistration('n2', 5_000)).toBe(true)

    count = 1_000
    await startNode('reg-d', 'n2', etcd.endpoints[1] as string, () => ++count)
    await until(() => n1.registry.members.get('n2')?.routedFrom === 1_001, 'n2 registered again')
    expect(n1.registry.routedUnderEndedRegistration('n2', 1_001)).toBe(false)
    expect(n1.registry.routedUnderEndedRegistration('n2', 1_000)).toBe(true)
    expect(n1.registry.routedUnderEndedRegistration('n2', 101)).toBe(true)
  })
})
