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

describe('LocalCluster at start-up', () => {
  it('owns every stored session and its will, with epochs above every stored one, and keeps counting from there', async () => {
    const cluster = new LocalCluster('n1')
    const owned = await cluster.claimStored([
      { clientId: 'a', epoch: 40, will: true },
      { clientId: 'b', epoch: 7, will: false },
    ])
    expect([...owned.keys()]).toEqual(['a', 'b'])
    const epochs = [...owned.values()].map((o) => o.epoch)
    expect(Math.min(...epochs)).toBeGreaterThan(40)
    expect([...owned.values()].some((o) => o.willHandled)).toBe(false)
    expect((await cluster.acquireSession('c')).epoch).toBeGreaterThan(Math.max(...epochs))
  })

  it('forwards nothing, so nothing is awaited', () => {
    expect(new LocalCluster('n1').forward({ topic: 't', payload: Buffer.alloc(0), qos: 1, retain: false, properties: {}, publishedAt: 0 })).toBeUndefined()
  })
})
