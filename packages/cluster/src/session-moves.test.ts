import { describe, expect, it, vi } from 'vitest'
import type { CarriedDelivery, Message, SubscriptionOptions } from '@fluxmq/core'
import type { RouteChange } from '@fluxmq/cluster-etcd'
import type { ForwardRouting } from '@fluxmq/cluster-transport'
import { SessionMoves, heldNotTransferred } from './session-moves.js'
import { silent } from './test-support/silent.js'

function message(topic: string): Message {
  return { topic, payload: Buffer.from(topic), qos: 1, retain: false, properties: {}, publishedAt: 1 }
}

function subscription(filter: string): SubscriptionOptions {
  return { filter, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }
}

/** Node `a`'s side of moves, with the route table as the watch would feed it and every send recorded. */
function nodeA() {
  const view = new Map<string, Set<string>>()
  const listeners = new Set<(change: RouteChange) => void>()
  const sent: { node: string; topic: string; routing: ForwardRouting }[] = []
  const added: string[] = []
  const removed: string[] = []
  const moves = new SessionMoves({
    nodeId: 'a',
    routes: {
      nodesFor: (filter) => view.get(filter) ?? new Set(),
      onChange: (listener) => {
        listeners.add(listener)
        return () => listeners.delete(listener)
      },
    },
    send: (node, m, routing) => {
      sent.push({ node, topic: m.topic, routing })
      return Promise.resolve()
    },
    addRoute: (filter) => added.push(filter),
    removeRoute: (filter) => removed.push(filter),
    logger: silent,
  })
  const routeAdded = (filter: string, nodeId: string): void => {
    const nodes = view.get(filter) ?? new Set()
    nodes.add(nodeId)
    view.set(filter, nodes)
    for (const listener of listeners) listener({ type: 'added', filter, nodeId })
  }
  return { moves, sent, added, removed, routeAdded }
}

describe('SessionMoves', () => {
  it('on the old owner: keeps a moved filter routed until the new owner has it, relays what the new owner does not get itself', async () => {
    const { moves, sent, removed, routeAdded } = nodeA()
    // The core's surrender removes the session's routes in its synchronous part.
    await moves.surrender('c', 'b', 7, () => {
      for (const filter of ['x/#', '$share/g/y', 'other']) if (!moves.removeRoute(filter)) removed.push(`now ${filter}`)
      return Promise.resolve({ subscriptions: [subscription('x/#'), subscription('$share/g/y')] })
    })
    // Not the session's ordinary filter: removed at once; its shared one is not relayed, removed too.
    expect(removed).toEqual(['$share/g/y', 'other'])
    expect(moves.removeRoute('later')).toBe(false)

    moves.routed(message('x/1'), ['a', 'd'])
    moves.routed(message('x/2'), ['d', 'a', 'b'])
    moves.routed(message('y'), ['a'])
    expect(sent).toEqual([{ node: 'b', topic: 'x/1', routing: { relayFor: 'c', otherNodes: ['d'] } }])

    routeAdded('x/#', 'd')
    expect(removed).toEqual(['$share/g/y', 'other'])
    routeAdded('x/#', 'b')
    expect(removed).toEqual(['$share/g/y', 'other', 'x/#'])
    // The session came back here: nothing more is relayed for it.
    moves.claimedHere('c')
    moves.routed(message('x/3'), ['a'])
    expect(sent).toHaveLength(1)
  })

  it('on the old owner: relays what it routed while the surrender was still reading the stored queue', async () => {
    const { moves, sent } = nodeA()
    let read!: (state: { subscriptions: SubscriptionOptions[] }) => void
    const surrendered = moves.surrender('c', 'b', 7, () => new Promise<{ subscriptions: SubscriptionOptions[] }>((resolve) => (read = resolve)))
    // The session is out of the router already; these arrive before its state is known.
    const accepted = moves.routed(message('x/during'), ['d', 'a'])
    moves.routed(message('x/known-to-b'), ['d', 'a', 'b'])
    let settled = false
    void accepted?.then(() => (settled = true))
    expect(sent).toEqual([])
    read({ subscriptions: [subscription('x/#')] })
    await surrendered
    await accepted
    expect(settled).toBe(true)
    expect(sent).toEqual([{ node: 'b', topic: 'x/during', routing: { relayFor: 'c', otherNodes: ['d'] } }])
  })

  it('on the new owner: holds what it routes and its sends to the old owner until the state is attached', () => {
    const { moves } = nodeA()
    const order: string[] = []
    const window = moves.beginAcquire('c', 'b', [])
    expect(moves.holding('b')).toBe(true)
    expect(moves.holding('d')).toBe(false)
    moves.hold('b', () => order.push('first'), undefined)
    moves.hold('b', () => order.push('second'), undefined)
    moves.routed(message('t/1'), ['a'])
    const delivered: string[] = []
    expect(moves.relayedHere('c', message('t/relayed'), ['b', 'a'], () => true)).toBeUndefined()
    expect(order).toEqual([])
    expect(window.held().map((m) => m.topic)).toEqual(['t/1', 't/relayed'])
    expect(order).toEqual(['first', 'second'])
    expect(moves.holding('b')).toBe(false)
    // Attached now: a relay goes to the session; routing records nothing any more.
    moves.relayedHere('c', message('t/after'), ['b', 'a'], (clientId, m) => delivered.push(`${clientId} ${m.topic}`) > 0)
    expect(delivered).toEqual(['c t/after'])
    expect(moves.active).toBe(false)
  })

  it('on the new owner: gives a handed-on delivery that came while it acquired the session to the session once attached, with its delivery id', async () => {
    const { moves } = nodeA()
    const window = moves.beginAcquire('c', 'b', [])
    const given: string[] = []
    const deliver = (clientId: string, m: Message, carried?: CarriedDelivery): boolean => given.push(`${clientId} ${m.topic} ${carried?.deliveryId ?? '-'} ${carried?.received ?? '-'}`) > 0
    moves.relayedHere('c', message('t/inflight'), ['b', 'a'], deliver, undefined, { deliveryId: 0x30007, qos: 2, retain: false, received: true })
    moves.relayedHere('c', message('t/queued'), ['b', 'a'], deliver)
    expect(given).toEqual([])
    expect(window.held().map((m) => m.topic)).toEqual(['t/queued'])
    await new Promise((resolve) => setImmediate(resolve))
    expect(given).toEqual([`c t/inflight ${0x30007} true`])
  })

  it('on the new owner: drops what it holds from a node that lost its lease, up to where that node said it had routed', () => {
    const { moves } = nodeA()
    const window = moves.beginAcquire('c', 'b', [])
    moves.routed(message('t/stale'), ['b', 'a'], { node: 'b', arrivals: 1, seq: 500 })
    moves.routed(message('t/after-loss'), ['b', 'a'], { node: 'b', arrivals: 1, seq: 501 })
    moves.routed(message('t/from-d'), ['d', 'a'], { node: 'd', arrivals: 1, seq: 400 })
    moves.routed(message('t/local'), ['a'])
    moves.forgetStale('b', 500)
    expect(window.held().map((m) => m.topic)).toEqual(['t/after-loss', 't/from-d', 't/local'])
  })

  it('on the new owner: holds for a second session claimed from the same node the publishes it routed before and still holds for the first', () => {
    const { moves } = nodeA()
    const first = moves.beginAcquire('c', 'b', [])
    // Routed here while 'c' is acquired: held for it, and its send to b waits. A relay for one client is not this node's publish.
    const early = message('t/early')
    moves.routed(early, ['a', 'b'])
    const released: number[] = []
    moves.hold('b', (arrivals) => released.push(arrivals), early)
    moves.hold('b', () => undefined, undefined)
    const second = moves.beginAcquire('e', 'b', [])
    moves.routed(message('t/late'), ['a'])
    expect(first.held().map((m) => m.topic)).toEqual(['t/early', 't/late'])
    // b routes t/early after it surrendered 'e' and leaves it to this node, which sent it.
    expect(second.held().map((m) => m.topic)).toEqual(['t/early', 't/late'])
    // Were b to refuse it (a will, sent again for the sessions that came from b), both have it.
    expect([moves.gaveHeld(early, 'c'), moves.gaveHeld(early, 'e'), moves.gaveHeld(early, 'x'), moves.gaveHeld(message('t/early'), 'e')]).toEqual([true, true, false, false])
    // Sent once both ended, under a count 'e' arrived at or below: were b to relay it back for 'e'
    // (its relay skips nothing from this node), this node would not offer it to 'e' twice.
    expect(released).toEqual([moves.arrivals])
    const offered: string[] = []
    moves.relayedHere('e', message('t/early'), ['b', 'a'], (_c, m) => offered.push(m.topic) > 0, released[0])
    expect(offered).toEqual([])
  })

  it('on the new owner: routes the session\'s saved filters (not its shared ones) once the old owner kept it waiting, until the acquisition ends', () => {
    vi.useFakeTimers()
    try {
      const { moves, added, removed } = nodeA()
      const quick = moves.beginAcquire('c', 'b', ['x/#'])
      vi.advanceTimersByTime(499)
      quick.held()
      vi.advanceTimersByTime(1_000)
      // Answered in time: the old owner's routes stay until this node's show (no second path).
      expect(added).toEqual([])
      expect(removed).toEqual([])

      const slow = moves.beginAcquire('c', 'b', ['x/#', '$share/g/y', 'z'])
      vi.advanceTimersByTime(500)
      expect(added).toEqual(['x/#', 'z'])
      expect(removed).toEqual([])
      // The core attached the session (its own routes added) and took the held publishes.
      slow.held()
      expect(removed).toEqual(['x/#', 'z'])
      slow.abandon()
      expect(removed).toEqual(['x/#', 'z'])

      const refused = moves.beginAcquire('d', 'b', ['w'])
      vi.advanceTimersByTime(500)
      refused.abandon()
      expect(added).toEqual(['x/#', 'z', 'w'])
      expect(removed).toEqual(['x/#', 'z', 'w'])
    } finally {
      vi.useRealTimers()
    }
  })

  it('relays what it still routes for a session it lost without a surrender to the node that owns it now', () => {
    const { moves, sent } = nodeA()
    moves.handedOn('c', 'b', 4, ['x/#', '$share/g/x/#'])
    // A forward sent here before the session moved, accepted once this node could be reached again.
    moves.routed(message('x/late'), ['d', 'a'])
    moves.routed(message('x/also-at-b'), ['d', 'a', 'b'])
    moves.routed(message('y'), ['d', 'a'])
    expect(sent).toEqual([{ node: 'b', topic: 'x/late', routing: { relayFor: 'c', otherNodes: ['d'] } }])
  })

  it('relays back to the new owner what the new owner forwarded itself, with the count it routed it under', () => {
    const { moves, sent } = nodeA()
    moves.handedOn('c', 'b', 4, ['x/#'])
    // Forwarded by b before the session arrived there, applied here once this node was back.
    moves.routed(message('x/from-b'), ['b', 'a'], { node: 'b', arrivals: 41 })
    moves.routed(message('x/via-d'), ['d', 'a', 'b'], { node: 'd', arrivals: 7 })
    expect(sent).toEqual([{ node: 'b', topic: 'x/from-b', routing: { relayFor: 'c', otherNodes: ['b'], arrivals: 41 } }])
  })

  it('relays to the new owner what a third node forwarded to both, with that node\'s routing sequence of it', () => {
    const { moves, sent } = nodeA()
    moves.handedOn('c', 'b', 4, ['x/#'])
    // From d, which also forwarded it to b (for another subscriber there): b may have applied it
    // before the session arrived there, so b decides.
    moves.routed(message('x/via-d'), ['d', 'a', 'b'], { node: 'd', arrivals: 7, seq: 1_000 })
    // From a sender that counts no routing sequence: left to b, as before.
    moves.routed(message('x/via-old'), ['e', 'a', 'b'], { node: 'e', arrivals: 7 })
    expect(sent).toEqual([{ node: 'b', topic: 'x/via-d', routing: { relayFor: 'c', otherNodes: ['d', 'b'], origin: { node: 'd', seq: 1_000 } } }])
  })

  it('on the new owner: offers a third node\'s publish relayed to it only when it applied that node\'s publish before the session arrived', () => {
    const { moves } = nodeA()
    moves.applied('d', 100)
    moves.applied('d', 90) // a batch with an older send (one that waited) does not lower the mark
    moves.claimedHere('c')
    moves.applied('d', 150)
    const offered: string[] = []
    const deliver = (_clientId: string, m: Message): boolean => offered.push(m.topic) > 0
    moves.relayedHere('c', message('x/applied-before'), ['d', 'b', 'a'], deliver, undefined, undefined, { node: 'd', seq: 100 })
    // Applied here after the session arrived: the session had it from here.
    moves.relayedHere('c', message('x/applied-after'), ['d', 'b', 'a'], deliver, undefined, undefined, { node: 'd', seq: 120 })
    // Not applied here yet (d's batch is late here): the session gets it when it is.
    moves.relayedHere('c', message('x/not-yet'), ['d', 'b', 'a'], deliver, undefined, undefined, { node: 'd', seq: 200 })
    // From a node nothing was applied from before the arrival: everything of it came after.
    moves.relayedHere('c', message('x/other-node'), ['e', 'b', 'a'], deliver, undefined, undefined, { node: 'e', seq: 1 })
    expect(offered).toEqual(['x/applied-before'])
  })

  it('names the sessions that came lately from given nodes, and those that came after it had a publish', () => {
    vi.useFakeTimers()
    try {
      const { moves } = nodeA()
      moves.applied('d', 100)
      moves.claimedHere('early', 'n')
      const routedAt = moves.arrivals
      moves.applied('d', 150)
      moves.claimedHere('late', 'n')
      moves.beginAcquire('acquired', 'm', []).abandon()
      moves.claimedHere('new')
      moves.claimedHere('gone', 'n')
      moves.left('gone')
      const from = (nodes: string[], after?: { node: string; seq: number } | { arrivals: number }): string[] =>
        ['early', 'late', 'acquired', 'new', 'gone', 'never'].filter((c) => moves.cameFrom(c, nodes, after))
      expect(from(['n', 'm'])).toEqual(['early', 'late', 'acquired'])
      expect(from(['m'])).toEqual(['acquired'])
      // After d's publish 150 was applied here: `early` was here and had it.
      expect(from(['n'], { node: 'd', seq: 150 })).toEqual(['late'])
      expect(from(['n'], { node: 'd', seq: 100 })).toEqual(['early', 'late'])
      // After this node routed a publish of its own.
      expect(from(['n', 'm'], { arrivals: routedAt })).toEqual(['late', 'acquired'])
      // Remembered for as long as the arrival marks.
      vi.advanceTimersByTime(20_000)
      expect(from(['n', 'm'])).toEqual([])
    } finally {
      vi.useRealTimers()
    }
  })

  it('on the new owner: offers a publish relayed back to it only when it forwarded that publish before the session arrived', () => {
    const { moves } = nodeA()
    const before = moves.arrivals
    moves.claimedHere('c')
    const offered: string[] = []
    const deliver = (_clientId: string, m: Message): boolean => offered.push(m.topic) > 0
    moves.relayedHere('c', message('x/before'), ['d', 'a'], deliver, before)
    moves.relayedHere('c', message('x/after'), ['d', 'a'], deliver, moves.arrivals)
    moves.relayedHere('c', message('x/not-ours'), ['d', 'a'], deliver)
    // A second claim while the session is here keeps its arrival.
    moves.claimedHere('c')
    moves.relayedHere('c', message('x/still-after'), ['d', 'a'], deliver, before + 1)
    // Gone and back: it arrived anew.
    moves.left('c')
    moves.claimedHere('c')
    moves.relayedHere('c', message('x/before-return'), ['d', 'a'], deliver, before + 1)
    expect(offered).toEqual(['x/before', 'x/not-ours', 'x/before-return'])
  })

  it('passes a relay on when the session moved on from here too, unless its new owner routes the publish itself', async () => {
    const { moves, sent } = nodeA()
    await moves.surrender('c', 'e', 9, () => Promise.resolve({ subscriptions: [subscription('z')] }))
    const gone = (): boolean => false
    moves.relayedHere('c', message('z'), ['b', 'a'], gone)
    moves.relayedHere('c', message('z'), ['b', 'a', 'e'], gone)
    moves.relayedHere('nobody', message('z'), ['b', 'a'], gone)
    expect(sent).toEqual([{ node: 'e', topic: 'z', routing: { relayFor: 'c', otherNodes: ['b'] } }])
  })
})

describe('heldNotTransferred', () => {
  const at = (topic: string, payload: string, publishedAt: number, publisherId = 'p'): Message => ({ topic, payload: Buffer.from(payload), qos: 2, retain: false, properties: {}, publishedAt, publisherId })

  it('drops a held publish the old owner handed over (queued or in flight), once per transferred copy, and keeps the rest in order', () => {
    const twiceSent = at('t', 'same', 5)
    const held = [at('t', 'inflight', 1), at('t', 'queued', 2), at('t', 'new', 3), twiceSent, { ...twiceSent }, at('t', 'queued', 2, 'other')]
    const kept = heldNotTransferred(held, { inflight: [{ message: at('t', 'inflight', 1) }], offline: [at('t', 'queued', 2), at('t', 'same', 5)] })
    expect(kept.map((m) => `${m.publisherId} ${m.payload.toString()}`)).toEqual(['p new', 'p same', 'other queued'])
  })
})
