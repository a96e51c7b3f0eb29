import { Cleanup, RecordingLogger, TcpProxy } from '@fluxmq/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ClusterErrorCode } from './errors.js'
import { NodeLease } from './node-lease.js'
import { SessionOwnership } from './session-ownership.js'
import { SubscriptionStore } from './subscription-store.js'
import { type TestEtcdCluster, startEtcdCluster } from './test-support/etcd-cluster.js'

const cleanup = new Cleanup()
let etcd: TestEtcdCluster
let nodes: { ownership: SessionOwnership; lease: NodeLease }[]
beforeAll(async () => {
  etcd = await startEtcdCluster(cleanup, 3)
  // Three nodes, each on its own etcd member: racing claims meet only in etcd's consensus.
  nodes = await Promise.all(
    ['n1', 'n2', 'n3'].map(async (nodeId, i) => {
      const logger = new RecordingLogger()
      const { namespace } = etcd.connect('own', [etcd.endpoints[i] as string])
      const lease = cleanup.add(new NodeLease(namespace, { nodeId, ttlSeconds: 5, logger }), (l) => l.stop())
      await lease.start()
      return { lease, ownership: new SessionOwnership(namespace, lease, { nodeId, logger }) }
    }),
  )
})
afterAll(() => cleanup.run())

function node(i: number): SessionOwnership {
  return (nodes[i] as { ownership: SessionOwnership }).ownership
}

describe('SessionOwnership', () => {
  it('two concurrent claims of one client id: exactly one wins, the loser retries to a higher epoch', async () => {
    const observed = await node(0).read('c1')
    expect(observed.owner).toBeUndefined()
    const [a, b] = await Promise.all([node(0).tryClaim('c1', observed), node(1).tryClaim('c1', observed)])
    expect([a.won, b.won].filter(Boolean)).toHaveLength(1)
    const [winner, loser, loserNode] = a.won ? [a, b, node(1)] : [b, a, node(0)]
    if (!winner.won || loser.won) throw new Error('unreachable')
    expect(loser.current.owner).toMatchObject({ node: a.won ? 'n1' : 'n2', epoch: winner.claim.epoch })
    const retried = await loserNode.claim('c1')
    expect(retried.epoch).toBeGreaterThan(winner.claim.epoch)
    expect(retried.previousNode).toBe(a.won ? 'n1' : 'n2')
  })

  it('many racing claims all end with distinct epochs, the last one owning the key', async () => {
    const claims = await Promise.all(Array.from({ length: 6 }, (_, i) => node(i % 3).claim('c2').then((claim) => ({ node: `n${(i % 3) + 1}`, ...claim }))))
    const epochs = claims.map((claim) => claim.epoch)
    expect(new Set(epochs).size).toBe(claims.length)
    const last = claims.reduce((x, y) => (y.epoch > x.epoch ? y : x))
    expect((await node(0).read('c2')).owner).toMatchObject({ node: last.node, epoch: last.epoch })
  })

  it('fences the previous owner: its guarded writes fail after a takeover', async () => {
    const first = await node(0).claim('c3')
    expect(await node(0).isOwner('c3', first.epoch)).toBe(true)
    const second = await node(1).claim('c3')
    expect(second).toMatchObject({ previousNode: 'n1' })
    expect(await node(0).isOwner('c3', first.epoch)).toBe(false)
    await expect(node(0).assertOwner('c3', first.epoch)).rejects.toMatchObject({ code: ClusterErrorCode.Fenced, reason: 'session_taken_over' })
    const guarded = await node(0).fenced('c3', first.epoch).then(etcd.connect('own').namespace.put('subs/c3').value('stale')).commit()
    expect(guarded.succeeded).toBe(false)
    expect(await node(0).release('c3', first.epoch)).toBe(false)
    expect((await node(2).read('c3')).owner).toMatchObject({ node: 'n2', epoch: second.epoch })
  })

  it('reads the saved session in the claim transaction, as the previous owner left it; one of an unknown shape counts as none', async () => {
    const ns = etcd.connect('own').namespace
    const first = await node(0).claim('c5')
    expect(first.saved).toBeUndefined()
    const saved = { node: 'n1', epoch: first.epoch, protocol: 'mqtt5', expiryInterval: 60, subscriptions: [{ filter: 'a/#', qos: 1 }] }
    const written = await node(0).fenced('c5', first.epoch).then(ns.put('subs/c5').value(JSON.stringify(saved))).commit()
    expect(written.succeeded).toBe(true)
    const second = await node(1).claim('c5')
    expect(second).toMatchObject({ previousNode: 'n1', saved: { ...saved, modRevision: expect.any(String) } })
    await ns.put('subs/c6').value('not json')
    expect((await node(2).claim('c6')).saved).toBeUndefined()
  })

  it('releases an ended session with its saved subscriptions in one fenced transaction; a plain release keeps them; an adoption is marked until the next claim', async () => {
    const store = new SubscriptionStore(etcd.connect('own', [etcd.endpoints[0] as string]).namespace, node(0), 'n1')
    const saved = { protocol: 'mqtt5' as const, expiryInterval: 60, subscriptions: [] }
    const kept = await node(0).claim('c7')
    await store.save('c7', kept.epoch, saved)
    expect(await node(0).release('c7', kept.epoch)).toBe(true)
    expect(await store.load('c7')).toBeDefined()
    const ended = await node(0).claim('c7')
    await store.save('c7', ended.epoch, saved)
    // Not the owner at that epoch: nothing is deleted.
    expect(await node(0).release('c7', kept.epoch, true)).toBe(false)
    expect(await store.load('c7')).toBeDefined()
    expect(await node(0).release('c7', ended.epoch, true)).toBe(true)
    expect(await store.load('c7')).toBeUndefined()

    const observed = await node(1).read('c8')
    const adoption = await node(1).tryClaim('c8', observed, true)
    if (!adoption.won) throw new Error('the adoption lost its claim')
    expect(await node(2).adoptedEpoch('c8')).toBe(adoption.claim.epoch)
    await node(2).claim('c8')
    expect(await node(2).adoptedEpoch('c8')).toBeUndefined()
  })

  it('a claim that failed at its call deadline though it committed (the answer held back): the next claim on that node still names the owner before it', async () => {
    await node(1).claim('d1')
    // Node n1 again, its calls through a proxy that can hold the member's answers back.
    const proxy = cleanup.add(await TcpProxy.start(Number(new URL(etcd.endpoints[0] as string).port)), (p) => p.close())
    const ownership = new SessionOwnership(etcd.connect('own', [`http://127.0.0.1:${proxy.port}`]).namespace, (nodes[0] as { lease: NodeLease }).lease, { nodeId: 'n1', logger: new RecordingLogger() })
    await ownership.read('warm-up')
    // The claim's read is answered; its transaction (the value it writes) reaches the member, commits, and is not answered.
    proxy.holdFrom('{"node":"n1"')
    await expect(ownership.claim('d1')).rejects.toMatchObject({ code: ClusterErrorCode.EtcdUnavailable })
    proxy.release()
    expect((await node(2).read('d1')).owner).toMatchObject({ node: 'n1' })
    // Named as n1 itself, the takeover from n2 (or the resume from etcd's copy) would be skipped.
    expect((await ownership.claim('d1')).previousNode).toBe('n2')
  })

  it('keeps epochs rising across a release and across the owner lease expiring', async () => {
    const first = await node(0).claim('c4')
    expect(await node(0).release('c4', first.epoch)).toBe(true)
    expect((await node(1).read('c4')).owner).toBeUndefined()
    const second = await node(1).claim('c4')
    expect(second.epoch).toBeGreaterThan(first.epoch)
    expect(second.previousNode).toBeUndefined()

    // The owner's lease goes: its sessions are free, and the next owner's epoch is higher still.
    await (nodes[1] as { lease: NodeLease }).lease.stop()
    expect((await node(2).read('c4')).owner).toBeUndefined()
    const third = await node(2).claim('c4')
    expect(third.epoch).toBeGreaterThan(second.epoch)
  })
})
