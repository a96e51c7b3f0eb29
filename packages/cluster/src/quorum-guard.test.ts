import { describe, expect, it } from 'vitest'
import { Cleanup, until } from '@fluxmq/testing'
import { QuorumGuard } from './quorum-guard.js'
import { etcdForFile } from './test-support/etcd.js'
import { silent } from './test-support/silent.js'

const cleanup = new Cleanup()
const etcd = etcdForFile(cleanup)

describe('QuorumGuard (real etcd)', () => {
  it('reports no quorum while the member does not answer, and quorum again once it does', async () => {
    const guard = new QuorumGuard(etcd.connect('quorum').namespace, { nodeId: 'n1', intervalMs: 300, logger: silent })
    guard.start()
    cleanup.defer(() => guard.stop())
    expect(guard.quorate).toBe(true)
    const pid = etcd.member.pid as number
    // A frozen member stands for one that lost its peers: it answers nothing.
    process.kill(pid, 'SIGSTOP')
    cleanup.defer(() => {
      try {
        process.kill(pid, 'SIGCONT')
      } catch {
        // Already stopped by its cleanup.
      }
    })
    await until(() => !guard.quorate, 'no quorum', 5_000)
    process.kill(pid, 'SIGCONT')
    await until(() => guard.quorate, 'quorum again', 10_000)
  })
})
