import type { SubscriptionOptions } from '@fluxmq/core'
import { Cleanup, RecordingLogger } from '@fluxmq/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ClusterErrorCode } from './errors.js'
import { NodeLease } from './node-lease.js'
import { SessionOwnership } from './session-ownership.js'
import { SubscriptionStore } from './subscription-store.js'
import { type TestEtcdCluster, startEtcdCluster } from './test-support/etcd-cluster.js'

const cleanup = new Cleanup()
let etcd: TestEtcdCluster
beforeAll(async () => {
  etcd = await startEtcdCluster(cleanup, 1)
})
afterAll(() => cleanup.run())

const subscriptions: SubscriptionOptions[] = [
  { filter: 'a/+', qos: 1, noLocal: false, retainAsPublished: true, retainHandling: 0, subscriptionId: 7 },
  { filter: '$share/g/b/#', qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 2, userProperties: [['k', 'v']] },
]
const saved = { protocol: 'mqtt5', expiryInterval: 60, subscriptions } as const

async function startNode(nodeId: string): Promise<{ ownership: SessionOwnership; store: SubscriptionStore; lease: NodeLease }> {
  const logger = new RecordingLogger()
  const { namespace } = etcd.connect('subs')
  const lease = cleanup.add(new NodeLease(namespace, { nodeId, ttlSeconds: 5, logger }), (l) => l.stop())
  await lease.start()
  const ownership = new SessionOwnership(namespace, lease, { nodeId, logger })
  return { ownership, store: new SubscriptionStore(namespace, ownership, nodeId), lease }
}

describe('SubscriptionStore', () => {
  it('saves for the owner, survives the owner’s lease, and refuses a fenced-off node', async () => {
    const n1 = await startNode('n1')
    const n2 = await startNode('n2')
    const first = await n1.ownership.claim('c1')
    await n1.store.save('c1', first.epoch, saved)
    expect(await n2.store.load('c1')).toMatchObject({ ...saved, node: 'n1', epoch: first.epoch })

    // n1 dies: its ownership goes with its lease, its client's subscriptions stay for the next owner.
    await n1.lease.stop()
    expect((await n2.store.load('c1'))?.subscriptions).toEqual(subscriptions)
    expect((await n2.store.all()).get('c1')?.node).toBe('n1')
    const second = await n2.ownership.claim('c1')
    await expect(n1.store.save('c1', first.epoch, { ...saved, subscriptions: [] })).rejects.toMatchObject({ code: ClusterErrorCode.Fenced })
    await expect(n1.store.remove('c1', first.epoch)).rejects.toMatchObject({ code: ClusterErrorCode.Fenced })
    expect((await n2.store.load('c1'))?.subscriptions).toEqual(subscriptions)

    await n2.store.remove('c1', second.epoch)
    expect(await n2.store.load('c1')).toBeUndefined()
  })

  it('lets the leader sweep an expired session nobody claimed, fenced by its term and by the revision it read', async () => {
    const n1 = await startNode('n1')
    const { namespace } = etcd.connect('subs')
    const claim = await n1.ownership.claim('c2')
    await n1.store.save('c2', claim.epoch, saved)
    const term = { key: 'leader', createRevision: (await namespace.put('leader').value('n2').exec()).header.revision }
    const read = (await n1.store.all()).get('c2')?.modRevision as string

    expect(await n1.store.sweep('c2', read, term)).toBe(false) // n1 still owns it
    await n1.lease.stop()
    expect(await n1.store.sweep('c2', read, { ...term, createRevision: '1' })).toBe(false) // not the leader's term
    expect(await n1.store.sweep('c2', read, term)).toBe(true)
    expect(await n1.store.load('c2')).toBeUndefined()
  })
})
