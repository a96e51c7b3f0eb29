import { describe, expect, it } from 'vitest'
import { LocalCluster } from './local-cluster.js'

describe('LocalCluster', () => {
  it('every claim of a session gets a larger epoch, also after the session was released', async () => {
    const cluster = new LocalCluster('n1')
    const first = await cluster.acquireSession('a')
    await cluster.acquireSession('b')
    const second = await cluster.acquireSession('a')
    cluster.releaseSession('a')
    const third = await cluster.acquireSession('a')
    expect(first.transferred).toBeUndefined()
    expect(second.epoch).toBeGreaterThan(first.epoch)
    expect(third.epoch).toBeGreaterThan(second.epoch)
  })
})
