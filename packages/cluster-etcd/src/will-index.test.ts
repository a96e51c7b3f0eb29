import type { Message } from '@fluxmq/core'
import { Cleanup, RecordingLogger } from '@fluxmq/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type TestEtcdCluster, startEtcdCluster } from './test-support/etcd-cluster.js'
import { WILL_INLINE_LIMIT, WillIndex } from './will-index.js'

const cleanup = new Cleanup()
let etcd: TestEtcdCluster
beforeAll(async () => {
  etcd = await startEtcdCluster(cleanup, 3)
})
afterAll(() => cleanup.run())

const THRESHOLD = 1024

function message(topic: string, size: number): Message {
  return { topic, payload: Buffer.alloc(size, 7), qos: 1, retain: true, publishedAt: Date.now(), properties: { contentType: 'x' } }
}

describe('WillIndex', () => {
  it('keeps wills inline up to 64 KiB, indexes larger ones, lists a node’s wills and deletes only its own', async () => {
    const [n1, n2] = ['n1', 'n2'].map(
      (nodeId, i) => new WillIndex(etcd.connect('wills', [etcd.endpoints[i] as string]).namespace, { nodeId, logger: new RecordingLogger(), thresholdBytes: THRESHOLD }),
    ) as [WillIndex, WillIndex]
    const inline = message('will/inline', WILL_INLINE_LIMIT)
    const indexed = message('will/indexed', WILL_INLINE_LIMIT + 1)
    await n1.put('c-inline', { message: inline, delayInterval: 5 }, 10)
    await n1.put('c-indexed', { message: indexed, delayInterval: 0 }, 11)
    await n2.put('c-other', { message: message('will/other', 1), delayInterval: 0 }, 12)

    const ofN1 = await n2.willsOf('n1')
    expect([...ofN1.keys()].sort()).toEqual(['c-indexed', 'c-inline'])
    expect(ofN1.get('c-inline')).toEqual({ stored: { kind: 'inline', message: inline }, delayInterval: 5, node: 'n1', epoch: 10 })
    expect(ofN1.get('c-indexed')).toMatchObject({ stored: { kind: 'indexed', holder: 'n1', size: WILL_INLINE_LIMIT + 1 }, node: 'n1', epoch: 11 })

    expect(await n2.delete('c-inline', 10)).toBe(false) // not n2's will
    expect(await n1.delete('c-inline', 9)).toBe(false) // an older epoch of n1
    expect(await n1.delete('c-inline', 10)).toBe(true)
    expect(await n2.get('c-inline')).toBeUndefined()
    expect((await n1.get('c-other'))?.node).toBe('n2')
  })

  it('lets one leader term take an orphaned will, once, and only while nobody claimed the session', async () => {
    const { namespace } = etcd.connect('wills-take')
    const wills = new WillIndex(namespace, { nodeId: 'n1', logger: new RecordingLogger(), thresholdBytes: THRESHOLD })
    const term = { key: 'leader', createRevision: (await namespace.put('leader').value('n2').exec()).header.revision }
    await wills.put('c1', { message: message('will/c1', 3), delayInterval: 1 }, 5)
    await wills.put('c2', { message: message('will/c2', 3), delayInterval: 1 }, 6)
    const entries = await wills.entries()
    const c1 = entries.get('c1')?.modRevision as string
    const c2 = entries.get('c2')?.modRevision as string

    expect(await wills.take('c1', c1, '0', { ...term, createRevision: '1' })).toBe(false) // a stale term
    expect(await wills.take('c1', c1, '0', term)).toBe(true)
    expect(await wills.take('c1', c1, '0', term)).toBe(false) // taken already: never twice
    expect(await wills.get('c1')).toBeUndefined()

    // The client of c2 came back (its session key exists now): the take the leader prepared fails.
    await namespace.put('sessions/c2').value(JSON.stringify({ node: 'n3', epoch: 9 })).exec()
    expect(await wills.take('c2', c2, '0', term)).toBe(false)
    expect((await wills.get('c2'))?.node).toBe('n1')
  })

  it('lets the owner give its will up under its ownership, and then no leader take it; once the leader adopted the session, the owner cannot', async () => {
    const { namespace } = etcd.connect('wills-give-up')
    const wills = new WillIndex(namespace, { nodeId: 'n1', logger: new RecordingLogger(), thresholdBytes: THRESHOLD })
    const term = { key: 'leader', createRevision: (await namespace.put('leader').value('n2').exec()).header.revision }
    // The owner's fence, as SessionOwnership.fenced builds it.
    const ownedBy = (node: string, epoch: number) => namespace.if('sessions/c', 'Value', '==', JSON.stringify({ node, epoch }))
    const owner = (node: string, epoch: number) => namespace.put('sessions/c').value(JSON.stringify({ node, epoch })).exec()

    await owner('n1', 5)
    await wills.put('c', { message: message('will/c', 3), delayInterval: 0 }, 5)
    const before = (await wills.entries()).get('c')?.modRevision as string
    const sessionBefore = (await namespace.get('sessions/c').exec()).kvs[0]?.mod_revision as string
    expect(await wills.giveUp('c', ownedBy('n1', 4))).toBe(false) // an older ownership of n1
    expect(await wills.giveUp('c', ownedBy('n1', 5))).toBe(true)
    expect(await wills.get('c')).toBeUndefined()
    // A leader that read the will before (it saw n1 die) finds it gone: published once, by n1.
    expect(await wills.take('c', before, sessionBefore, term)).toBe(false)
    // Given up before the mirror wrote it: still true while owned, so the owner publishes it.
    expect(await wills.giveUp('c', ownedBy('n1', 5))).toBe(true)

    // The leader adopted the session of n1 (lease lapsed) and publishes the will itself.
    await wills.put('c', { message: message('will/c', 3), delayInterval: 0 }, 5)
    await owner('n2', 6)
    expect(await wills.giveUp('c', ownedBy('n1', 5))).toBe(false)
    expect(await wills.get('c')).toBeDefined()
    await namespace.delete().key('sessions/c').exec()
    expect(await wills.giveUp('c', ownedBy('n1', 5))).toBe(false) // no key at all: not owned either
  })
})
