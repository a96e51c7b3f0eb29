import { describe, expect, it } from 'vitest'
import type { Message } from './message.js'
import { Router } from './router.js'
import type { Session } from './session.js'
import { Subscription } from './subscription.js'

/** The fields Router.match reads and writes on a session. */
function fakeSession(clientId: string): Session {
  return { clientId, mark: 0, matchQos: 0, matchRetain: false, matchIds: undefined, matchIdsOwned: false, active: true, stored: false } as unknown as Session
}

const subscribe = (session: Session, filter: string): Subscription =>
  new Subscription(session, { filter, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 })

const matched = (router: Router, topic: string): string[] => {
  router.match(topic, undefined)
  return router.direct.map((s) => s.clientId).sort()
}

describe('Router match cache', () => {
  it('sees a subscription added after the topic was matched (and cached)', () => {
    const router = new Router()
    const a = fakeSession('a')
    router.add(subscribe(a, 'x/+'))
    expect(matched(router, 'x/y')).toEqual(['a'])
    router.add(subscribe(fakeSession('b'), 'x/#'))
    expect(matched(router, 'x/y')).toEqual(['a', 'b'])
  })

  it('forgets a removed subscription for a topic it had cached', () => {
    const router = new Router()
    const sub = subscribe(fakeSession('a'), 'x/y')
    router.add(sub)
    expect(matched(router, 'x/y')).toEqual(['a'])
    router.remove(sub)
    expect(matched(router, 'x/y')).toEqual([])
  })

  it('stays correct past its size bound (many distinct topics)', () => {
    const router = new Router()
    router.add(subscribe(fakeSession('a'), 't/+'))
    for (let i = 0; i < 10_000; i++) expect(matched(router, `t/${i}`)).toEqual(['a'])
    expect(matched(router, 'u/1')).toEqual([])
  })

  it('[MQTT-4.8.2] keeps picking shared members round-robin for a cached topic', () => {
    const router = new Router()
    const a = fakeSession('a')
    const b = fakeSession('b')
    router.add(subscribe(a, '$share/g/x'))
    router.add(subscribe(b, '$share/g/x'))
    const picked: string[] = []
    for (let i = 0; i < 4; i++) {
      router.match('x', undefined)
      picked.push(router.shared.map((s) => s.session.clientId).join())
    }
    expect(picked).toEqual(['a', 'b', 'a', 'b'])
  })

  it('[MQTT-4.8.2] matchDirect leaves shared groups out without advancing their pick', () => {
    const router = new Router()
    router.add(subscribe(fakeSession('a'), '$share/g/x'))
    router.add(subscribe(fakeSession('b'), '$share/g/x'))
    router.add(subscribe(fakeSession('d'), 'x'))
    router.match('x', undefined)
    expect(router.shared.map((s) => s.session.clientId)).toEqual(['a'])
    router.matchDirect('x', undefined)
    expect(router.direct.map((s) => s.clientId)).toEqual(['d'])
    expect(router.shared).toEqual([])
    router.match('x', undefined)
    expect(router.shared.map((s) => s.session.clientId)).toEqual(['b'])
  })

  it('[MQTT-4.8.2] leaves a shared group to the node the cluster names for the message, and keeps its direct subscribers', () => {
    const asked: string[] = []
    const router = new Router((filter, message) => {
      asked.push(filter)
      return message.payload.toString() === 'here'
    })
    const a = fakeSession('a')
    router.add(subscribe(a, '$share/g/x'))
    router.add(subscribe(fakeSession('d'), 'x'))
    const message = (text: string): Message => ({ topic: 'x', payload: Buffer.from(text), qos: 1, retain: false, properties: {}, publishedAt: 0 })
    router.match('x', undefined, message('elsewhere'))
    expect(router.shared).toEqual([])
    expect(router.direct.map((s) => s.clientId)).toEqual(['d'])
    router.match('x', undefined, message('here'))
    expect(router.shared.map((s) => s.session.clientId)).toEqual(['a'])
    expect(asked).toEqual(['$share/g/x', '$share/g/x'])
  })
})
