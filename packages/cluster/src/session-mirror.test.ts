import { describe, expect, it } from 'vitest'
import { MemoryStorage, type SubscriptionOptions, type WillRecord } from '@fluxmq/core'
import { Cleanup, until } from '@fluxmq/testing'
import { SessionMirror } from './session-mirror.js'
import { etcdForFile, type TestNode } from './test-support/etcd.js'
import { silent } from './test-support/silent.js'

const cleanup = new Cleanup()
const etcd = etcdForFile(cleanup)

function sub(filter: string): SubscriptionOptions {
  return { filter, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }
}

const will: WillRecord = {
  message: { topic: 'will/c1', payload: Buffer.from('gone'), qos: 1, retain: false, properties: {}, publishedAt: Date.now() },
  delayInterval: 30,
}

function mirrorOf(inner: MemoryStorage, n: TestNode): SessionMirror {
  return new SessionMirror(inner, { nodeId: n.nodeId, subscriptions: n.store, wills: n.wills, ownership: n.ownership, logger: silent })
}

function startNode(nodeId: string): Promise<TestNode> {
  return etcd.node('mirror', nodeId)
}

describe('SessionMirror (real etcd)', () => {
  it('mirrors a persistent session’s subscriptions and will into etcd, and stops when another node owns it', async () => {
    const n1 = await startNode('n1')
    const n2 = await startNode('n2')
    const inner = new MemoryStorage()
    const mirror = mirrorOf(inner, n1)
    await mirror.open()
    const { epoch } = await n1.ownership.claim('c1')

    mirror.putSession({ clientId: 'c1', protocol: 'mqtt5', expiryInterval: 10, will, epoch })
    mirror.putSubscription('c1', sub('a/+'))
    mirror.putSubscription('c1', sub('b/#'))
    await until(async () => (await n2.store.load('c1'))?.subscriptions.length === 2, 'both subscriptions in etcd')
    expect(await n2.store.load('c1')).toMatchObject({ node: 'n1', epoch, protocol: 'mqtt5', expiryInterval: 10 })
    // Due after its delay or when the session ends: the shorter of the two.
    await until(async () => (await n2.wills.get('c1')) !== undefined, 'the will in etcd')
    expect(await n2.wills.get('c1')).toMatchObject({ node: 'n1', epoch, delayInterval: 10 })
    expect((await n2.wills.get('c1'))?.disconnectedAt).toBeUndefined()
    // The connection closes with the will pending: the time goes to etcd with it.
    mirror.putSession({ clientId: 'c1', protocol: 'mqtt5', expiryInterval: 10, will, epoch, disconnectedAt: 1_000 })
    await until(async () => (await n2.wills.get('c1'))?.disconnectedAt === 1_000, 'the will’s disconnection time in etcd')

    mirror.deleteSubscription('c1', 'a/+')
    mirror.putSession({ clientId: 'c1', protocol: 'mqtt5', expiryInterval: 10, epoch })
    await until(async () => (await n2.store.load('c1'))?.subscriptions.length === 1 && (await n2.wills.get('c1')) === undefined, 'one subscription and no will left')

    // The local store got every write too (it is what the node restarts from).
    const reopened = await inner.open()
    expect(reopened.sessions.map((s) => s.subscriptions.map((o) => o.filter))).toEqual([['b/#']])

    // n2 takes the session: n1's later writes are fenced off and never overwrite n2's.
    await n2.ownership.claim('c1')
    mirror.putSubscription('c1', sub('late/#'))
    await mirror.settled(5_000)
    expect((await n2.store.load('c1'))?.subscriptions.map((s) => s.filter)).toEqual(['b/#'])

    // A session that ends here leaves nothing behind in etcd.
    const c2 = await n1.ownership.claim('c2')
    mirror.putSession({ clientId: 'c2', protocol: 'mqtt3', expiryInterval: 60, will, epoch: c2.epoch })
    mirror.putSubscription('c2', sub('x'))
    await until(async () => (await n2.wills.get('c2')) !== undefined && (await n2.store.load('c2')) !== undefined, 'c2 in etcd')
    mirror.deleteSession('c2')
    await until(async () => (await n2.wills.get('c2')) === undefined && (await n2.store.load('c2')) === undefined, 'c2 gone from etcd')
    await mirror.close()
  })

  it('mirrors the stored subscriptions of a session held again after it was lost with the lease', async () => {
    const n5 = await startNode('n5')
    const inner = new MemoryStorage()
    const mirror = mirrorOf(inner, n5)
    await mirror.open()
    const first = await n5.ownership.claim('c6')
    mirror.putSession({ clientId: 'c6', protocol: 'mqtt5', expiryInterval: 60, epoch: first.epoch })
    mirror.putSubscription('c6', sub('kept/#'))
    await until(async () => (await n5.store.load('c6'))?.subscriptions.length === 1, 'the subscription in etcd')
    // The lease is lost: nothing is written for the session, and storage keeps it.
    mirror.forget('c6')
    const stored = (await inner.open()).sessions.find((s) => s.session.clientId === 'c6')
    expect(stored?.subscriptions.map((o) => o.filter)).toEqual(['kept/#'])
    // Held here again under a new claim: the core rewrites the record and restores the rest from storage.
    const again = await n5.ownership.claim('c6')
    mirror.putSession({ clientId: 'c6', protocol: 'mqtt5', expiryInterval: 60, epoch: again.epoch, disconnectedAt: 1_000 })
    mirror.restored(stored as NonNullable<typeof stored>)
    await until(async () => (await n5.store.load('c6'))?.epoch === again.epoch, 'the new claim’s record in etcd')
    expect((await n5.store.load('c6'))?.subscriptions.map((o) => o.filter)).toEqual(['kept/#'])
    await mirror.close()
  })

  it('deletes what a dead node saved when the resumed session ends in the same turn (Clean Start)', async () => {
    const dead = await startNode('dead')
    const n4 = await startNode('n4')
    const old = await dead.ownership.claim('c5')
    await dead.store.save('c5', old.epoch, { protocol: 'mqtt5', expiryInterval: 60, subscriptions: [sub('old/#')] })
    const mirror = mirrorOf(new MemoryStorage(), n4)
    await mirror.open()
    const { epoch } = await n4.ownership.claim('c5')
    // The core adopts the saved state and ends it at once; the new session has no expiry.
    mirror.putSession({ clientId: 'c5', protocol: 'mqtt5', expiryInterval: 60, epoch })
    mirror.putSubscription('c5', sub('old/#'))
    mirror.deleteSession('c5')
    await until(async () => (await n4.store.load('c5')) === undefined, 'the saved session gone')
    await mirror.close()
  })
})
