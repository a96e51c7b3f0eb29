import { describe, expect, it } from 'vitest'
import type { Message } from '@fluxmq/core'
import { RemoteRoutes } from './remote-routes.js'

function message(topic: string): Message {
  return { topic, payload: Buffer.alloc(0), qos: 1, retain: false, properties: {}, publishedAt: 1 }
}

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

  it('[MQTT-4.8.2] sends a shared group\'s publish only to the node that serves the group for it', () => {
    const serving = new Map<string, string>([['$share/g/s/+', 'n3']])
    const routes = new RemoteRoutes('n1', { nodeFor: (filter) => serving.get(filter) })
    routes.apply({ type: 'added', filter: '$share/g/s/+', nodeId: 'n2' })
    routes.apply({ type: 'added', filter: '$share/g/s/+', nodeId: 'n3' })
    routes.apply({ type: 'added', filter: '$share/h/s/#', nodeId: 'n2' })
    const m = message('s/1')
    // Group g: n3 serves it; group h: no placement answer, so its member's node gets it.
    expect(routes.nodesFor('s/1', m)).toEqual(new Set(['n3', 'n2']))
    routes.apply({ type: 'removed', filter: '$share/h/s/#', nodeId: 'n2' })
    expect(routes.nodesFor('s/1', m)).toEqual(new Set(['n3']))
    // This node serves it: nobody else gets it.
    serving.set('$share/g/s/+', 'n1')
    expect(routes.nodesFor('s/1', m)).toBeUndefined()
    // Without the message (no placement possible), every node with a member.
    expect(routes.nodesFor('s/1')).toEqual(new Set(['n2', 'n3']))
  })

  it('[MQTT-4.7.2-1] does not match $-topics with a first-level wildcard', () => {
    const routes = new RemoteRoutes('n1')
    routes.apply({ type: 'added', filter: '#', nodeId: 'n2' })
    expect(routes.nodesFor('$SYS/x')).toBeUndefined()
    expect(routes.nodesFor('x')).toEqual(new Set(['n2']))
  })
})
