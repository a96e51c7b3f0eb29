import { describe, expect, it } from 'vitest'
import { RemoteRoutes } from './remote-routes.js'

describe('RemoteRoutes', () => {
  it('matches other nodes by filter, ignores this node, and strips $share/<group>/', () => {
    const routes = new RemoteRoutes('n1')
    routes.apply({ type: 'added', filter: 'a/+', nodeId: 'n2' })
    routes.apply({ type: 'added', filter: '$share/g/a/#', nodeId: 'n3' })
    routes.apply({ type: 'added', filter: 'a/b', nodeId: 'n1' })
    expect(routes.nodesFor('a/b')).toEqual(new Set(['n2', 'n3']))
    expect(routes.nodesFor('a/b/c')).toEqual(new Set(['n3']))
    expect(routes.nodesFor('b')).toBeUndefined()
  })

  it('keeps a node while another of its filters with the same trie entry remains', () => {
    const routes = new RemoteRoutes('n1')
    routes.apply({ type: 'added', filter: 'a/b', nodeId: 'n2' })
    routes.apply({ type: 'added', filter: '$share/g/a/b', nodeId: 'n2' })
    routes.apply({ type: 'removed', filter: 'a/b', nodeId: 'n2' })
    expect(routes.nodesFor('a/b')).toEqual(new Set(['n2']))
    routes.apply({ type: 'removed', filter: '$share/g/a/b', nodeId: 'n2' })
    expect(routes.nodesFor('a/b')).toBeUndefined()
    // A removal never seen added changes nothing.
    routes.apply({ type: 'removed', filter: 'a/b', nodeId: 'n2' })
    expect(routes.nodesFor('a/b')).toBeUndefined()
  })

  it('[MQTT-4.7.2-1] does not match $-topics with a first-level wildcard', () => {
    const routes = new RemoteRoutes('n1')
    routes.apply({ type: 'added', filter: '#', nodeId: 'n2' })
    expect(routes.nodesFor('$SYS/x')).toBeUndefined()
    expect(routes.nodesFor('x')).toEqual(new Set(['n2']))
  })
})
