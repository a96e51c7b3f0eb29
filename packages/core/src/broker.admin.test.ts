import { describe, expect, it } from 'vitest'
import { Refusal } from './refusal.js'
import { connect, createWorld, message } from './test-support/harness.js'

describe('Broker admin views', () => {
  it('lists sessions with their state and subscriptions', async () => {
    const w = await createWorld()
    const a = await connect(w, 'a', { cleanStart: false, expiry: 60, username: 'alice' })
    a.subscribe('x/#', 1)
    a.disconnect()
    await connect(w, 'b')
    const list = w.broker.sessions().sort((x, y) => x.clientId.localeCompare(y.clientId))
    expect(list.map((s) => [s.clientId, s.connected, s.expiryInterval, s.username])).toEqual([
      ['a', false, 60, 'alice'],
      ['b', true, 0, undefined],
    ])
    expect(w.broker.session('a')).toMatchObject({ disconnectedAt: w.clock.t, subscriptions: [{ filter: 'x/#', qos: 1 }], queued: 0 })
    expect(w.broker.session('nobody')).toBeUndefined()
  })

  it('kick closes the link with AdministrativeAction and the will applies', async () => {
    const w = await createWorld()
    const watch = await connect(w, 'watch')
    watch.subscribe('wills/#', 0)
    const c = await connect(w, 'c', { cleanStart: false, expiry: 60, will: { message: message(w.clock, 'wills/c', 'x', 0), delayInterval: 0 } })
    expect(w.broker.kick('c')).toBe(true)
    expect(c.link.closed).toBe(Refusal.AdministrativeAction)
    expect(watch.link.take()).toHaveLength(1)
    expect(w.broker.session('c')?.connected).toBe(false)
    expect(w.broker.kick('c')).toBe(false)
    expect(c.publish('t', 'stale').reason).toBe(Refusal.SessionTakenOver)
  })
})
