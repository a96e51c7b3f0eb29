import { describe, expect, it } from 'vitest'
import { VanishedRoutes } from './vanished-routes.js'

/** Whether `p` settled within a macrotask. */
async function settled(p: Promise<void> | undefined): Promise<boolean> {
  if (p === undefined) return true
  let done = false
  void p.then(() => (done = true))
  await new Promise((resolve) => setImmediate(resolve))
  return done
}

describe('VanishedRoutes', () => {
  it('holds a dead node’s removed routes open until a node routes the filter again, whichever order the two watches deliver', async () => {
    const routes = new VanishedRoutes(10_000)
    // Removal first, then the registration's end.
    routes.routeRemoved('n3', 'a/#')
    expect(routes.settling('a/1')).toBeUndefined()
    routes.nodeDied('n3')
    const waiting = routes.settling('a/1')
    expect(waiting).toBeDefined()
    expect(routes.settling('b/1')).toBeUndefined()
    expect(await settled(waiting)).toBe(false)
    routes.routeAdded('a/#') // the leader's adoption routes it again
    expect(await settled(waiting)).toBe(true)
    expect(routes.settling('a/1')).toBeUndefined()

    // The registration's end first, then the removal; a shared filter waits by its topic filter.
    routes.nodeDied('n4')
    routes.routeRemoved('n4', '$share/g/s/+')
    const shared = routes.settling('s/1')
    expect(await settled(shared)).toBe(false)
    routes.routeAdded('$share/g/s/+')
    expect(await settled(shared)).toBe(true)
    routes.close()
  })

  it('leaves an unsubscribe of a live node alone, and never waits longer than its bound', async () => {
    const routes = new VanishedRoutes(50)
    routes.routeRemoved('n2', 'live/#')
    expect(routes.settling('live/1')).toBeUndefined()
    routes.nodeDied('n3')
    routes.routeRemoved('n3', 'gone/#')
    const bounded = routes.settling('gone/1')
    expect(await settled(bounded)).toBe(false)
    await bounded
    expect(routes.settling('gone/1')).toBeUndefined()
  })
})
