import { describe, expect, it } from 'vitest'
import { MemoryStorage } from './memory-storage.js'
import { FakeClock, message } from './test-support/harness.js'

// The full Storage contract is checked by @fluxmq/storage's conformance suite, which runs against
// this class; these cases cover what is specific to the in-memory backend.
describe('MemoryStorage', () => {
  const clock = new FakeClock()

  it('throws FLUXMQ_ERR_STORAGE_CLOSED before open() and after close()', async () => {
    const s = new MemoryStorage()
    expect(() => s.putRetained(message(clock, 't', 'x'))).toThrow(/FLUXMQ_ERR_STORAGE_CLOSED/)
    await s.open()
    s.putRetained(message(clock, 't', 'x'))
    await s.close()
    expect(() => s.sync()).toThrow(/FLUXMQ_ERR_STORAGE_CLOSED/)
  })

  it('keeps its state across close and open, like a disk', async () => {
    const s = new MemoryStorage()
    await s.open()
    s.putSession({ clientId: 'c', protocol: 'mqtt5', expiryInterval: 10 })
    s.appendOffline('c', message(clock, 't', '1', 1))
    s.appendOffline('c', message(clock, 't', '2', 1))
    s.putRetained(message(clock, 'r', 'x'))
    await s.close()
    const state = await s.open()
    expect(state.sessions.map((x) => [x.session.clientId, x.offlineCount])).toEqual([['c', 2]])
    expect(state.retained.map((m) => m.topic)).toEqual(['r'])
  })

  it('returns messages without the adapter-private wire cache', async () => {
    const s = new MemoryStorage()
    await s.open()
    s.putSession({ clientId: 'c', protocol: 'mqtt5', expiryInterval: 10 })
    const m = message(clock, 't', '1', 1)
    m.wire = { encoded: true }
    s.appendOffline('c', m)
    const [back] = await s.takeOffline('c', 10)
    expect(back?.wire).toBeUndefined()
    expect(back?.payload.toString()).toBe('1')
  })

  it('does not return rows of a client without a session record', async () => {
    const s = new MemoryStorage()
    await s.open()
    s.putSubscription('ghost', { filter: 'a', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 })
    expect((await s.open()).sessions).toEqual([])
    s.deleteSession('ghost')
  })
})
