import type { Message } from '@fluxmq/core'
import { Cleanup, RecordingLogger, until } from '@fluxmq/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RetainedChange, RetainedIndex } from './retained-index.js'
import { type TestEtcdCluster, startEtcdCluster } from './test-support/etcd-cluster.js'

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

describe('RetainedIndex', () => {
  it('shows a message set on node A to node C, inline below the threshold and indexed above, and clears it everywhere', async () => {
    const [a, , c] = await Promise.all(
      ['n1', 'n2', 'n3'].map(async (nodeId, i) => {
        const index = cleanup.add(
          new RetainedIndex(etcd.connect('ret', [etcd.endpoints[i] as string]).namespace, { nodeId, logger: new RecordingLogger(), thresholdBytes: THRESHOLD }),
          (r) => r.stop(),
        )
        await index.start()
        return index
      }),
    ) as [RetainedIndex, RetainedIndex, RetainedIndex]
    const changes: RetainedChange[] = []
    c.onChange((change) => changes.push(change))

    const small = message('$share-like/+/#/ü', THRESHOLD)
    const large = message('big', THRESHOLD + 1)
    await a.set(small)
    await a.set(large)
    await until(() => c.entries.size === 2, 'both retained messages on node C')
    expect(c.get(small.topic)).toEqual({ kind: 'inline', message: small })
    const { payload: _, ...largeHeader } = large
    expect(c.get('big')).toEqual({ kind: 'indexed', header: largeHeader, holder: 'n1', size: THRESHOLD + 1 })

    await a.set({ ...small, payload: Buffer.alloc(0) })
    await until(() => c.get(small.topic) === undefined, 'the cleared message gone on node C')
    expect(changes.map((change) => `${change.type} ${change.topic}`)).toEqual([`set ${small.topic}`, 'set big', `cleared ${small.topic}`])
  })
})
