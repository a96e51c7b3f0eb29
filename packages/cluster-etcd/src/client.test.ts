import { Cleanup, TcpProxy } from '@fluxmq/testing'
import { afterAll, describe, expect, it } from 'vitest'
import { connectEtcd } from './client.js'
import { startEtcdCluster } from './test-support/etcd-cluster.js'

const cleanup = new Cleanup()
afterAll(() => cleanup.run())

describe('connectEtcd', () => {
  it('fails a call at its deadline without sending it again, and the member is not shut off for it: the next call is answered', async () => {
    const etcd = await startEtcdCluster(cleanup, 1)
    const proxy = cleanup.add(await TcpProxy.start(Number(new URL(etcd.endpoints[0] as string).port)), (p) => p.close())
    const { namespace } = cleanup.add(connectEtcd('client', { endpoints: [`http://127.0.0.1:${proxy.port}`], callTimeoutMs: 500 }), (c) => c.close())
    await namespace.put('k').value('before').exec()
    proxy.holdFrom('unanswered')
    const started = Date.now()
    await expect(namespace.put('k').value('unanswered').exec()).rejects.toThrow(/DEADLINE_EXCEEDED/)
    // etcd3's defaults sent it three times, each with a fresh deadline.
    expect(Date.now() - started).toBeLessThan(1_000)
    proxy.release()
    // And then refused every call for 5 s (its breaker open after three failures).
    expect(await namespace.get('k').string()).toBe('unanswered')
    const revisions = await namespace.get('k').exec()
    expect(revisions.kvs[0]?.version).toBe('2')
  })
})
