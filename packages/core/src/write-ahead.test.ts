import { describe, expect, it } from 'vitest'
import { MemoryStorage } from './memory-storage.js'
import { WriteAheadStorage } from './write-ahead.js'

describe('WriteAheadStorage', () => {
  it('arms a barrier for the writes of a turn and disarms it once handed out', async () => {
    const storage = new WriteAheadStorage(new MemoryStorage())
    await storage.open()
    expect(storage.barrier()).toBeUndefined()
    storage.putIncomingQos2('c', 7)
    storage.deleteIncomingQos2('c', 7)
    const barrier = storage.barrier()
    expect(barrier).toBeInstanceOf(Promise)
    await barrier
    expect(storage.barrier()).toBeUndefined()
  })

  it('stays armed when someone else syncs: packets of the turn still wait for their writes', async () => {
    const storage = new WriteAheadStorage(new MemoryStorage())
    await storage.open()
    storage.putRetained({ topic: 't', payload: Buffer.from('x'), qos: 1, retain: true, properties: {}, publishedAt: 0 })
    void storage.sync()
    expect(storage.barrier()).toBeInstanceOf(Promise)
  })
})
