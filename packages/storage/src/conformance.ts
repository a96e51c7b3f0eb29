import type {
  InflightRecord,
  Message,
  SessionRecord,
  Storage,
  StoredSession,
  StoredState,
  SubscriptionOptions,
} from '@fluxmq/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

export interface ConformanceSubject {
  /** A fresh, empty, not yet opened store. */
  readonly storage: Storage
  /**
   * Persistent backends: a new Storage over the same data, called after the previous one closed.
   * Without it the suite closes and re-opens the same object, so a memory backend must keep its
   * contents across close()/open() of one instance (its "disk" is the object).
   */
  readonly reopen?: () => Promise<Storage>
  cleanup(): Promise<void>
}

/**
 * The one test suite every Storage backend runs (as Aedes' persistence backends run abstract.js):
 * each method and behaviour of the interface is checked once, and every check reads the state
 * back through a restart (close, reopen, open), so a persistent backend proves it kept it.
 */
export function storageConformanceSuite(name: string, make: () => Promise<ConformanceSubject>): void {
  describe(`Storage conformance: ${name}`, () => {
    let subject: ConformanceSubject
    let storage: Storage

    beforeEach(async () => {
      subject = await make()
      storage = subject.storage
    })

    afterEach(async () => {
      await storage.close()
      await subject.cleanup()
    })

    async function restart(): Promise<StoredState> {
      await storage.close()
      if (subject.reopen !== undefined) storage = await subject.reopen()
      return storage.open()
    }

    async function sessionAfterRestart(clientId: string): Promise<StoredSession | undefined> {
      const state = await restart()
      return state.sessions.find((s) => s.session.clientId === clientId)
    }

    describe('open and close', () => {
      it('opens empty: no sessions, no retained messages', async () => {
        expect(await storage.open()).toEqual({ sessions: [], retained: [] })
      })

      it('close commits what is staged, without a sync() first', async () => {
        await storage.open()
        storage.putSession(session('c1'))
        storage.putRetained(message({ topic: 'r/1', retain: true }))
        const state = await restart()
        expect(state.sessions.map((s) => s.session.clientId)).toEqual(['c1'])
        expect(state.retained.map((m) => m.topic)).toEqual(['r/1'])
      })

      it('restarting after a clean close yields identical state, twice over', async () => {
        await storage.open()
        populate(storage)
        await storage.sync()
        const first = normalize(await restart())
        expect(first.sessions).toHaveLength(3)
        expect(normalize(await restart())).toEqual(first)
      })
    })

    describe('sync', () => {
      it('resolves when nothing is staged', async () => {
        await storage.open()
        await expect(storage.sync()).resolves.toBeUndefined()
      })

      it('resolves once staged writes are stored; they survive a restart', async () => {
        await storage.open()
        storage.putSession(session('c1'))
        storage.appendOffline('c1', message())
        await storage.sync()
        expect((await sessionAfterRestart('c1'))?.offlineCount).toBe(1)
      })

      it('applies writes in the order they were made within one turn', async () => {
        await storage.open()
        storage.putSession(session('gone'))
        storage.deleteSession('gone')
        storage.deleteSession('back')
        storage.putSession(session('back'))
        storage.putRetained(message({ topic: 'r/x', payload: Buffer.from('first') }))
        storage.deleteRetained('r/x')
        storage.putRetained(message({ topic: 'r/x', payload: Buffer.from('second') }))
        await storage.sync()
        const state = await restart()
        expect(state.sessions.map((s) => s.session.clientId)).toEqual(['back'])
        expect(state.retained.map((m) => m.payload.toString())).toEqual(['second'])
      })
    })

    describe('sessions', () => {
      it('putSession stores every field of the record, will included', async () => {
        await storage.open()
        const record: SessionRecord = {
          clientId: 'c1',
          protocol: 'mqtt5',
          expiryInterval: 0xffffffff,
          disconnectedAt: 1_700_000_000_123,
          will: { message: fullMessage({ topic: 'will/c1' }), delayInterval: 30 },
          epoch: 2 ** 40 + 3,
        }
        storage.putSession(record)
        expect((await sessionAfterRestart('c1'))?.session).toEqual(record)
      })

      it('stores sessions of every protocol, connected ones without disconnectedAt', async () => {
        await storage.open()
        storage.putSession({ clientId: 'a', protocol: 'mqtt3', expiryInterval: 7200 })
        storage.putSession({ clientId: 'b', protocol: 'mqtt5', expiryInterval: 0 })
        storage.putSession({ clientId: 'c', protocol: 'amqp', expiryInterval: 60 })
        const state = await restart()
        const sessions = state.sessions.map((s) => s.session).sort(byClientId)
        expect(sessions).toEqual([
          { clientId: 'a', protocol: 'mqtt3', expiryInterval: 7200 },
          { clientId: 'b', protocol: 'mqtt5', expiryInterval: 0 },
          { clientId: 'c', protocol: 'amqp', expiryInterval: 60 },
        ])
        expect(sessions.every((s) => !('disconnectedAt' in s) && !('will' in s) && !('epoch' in s))).toBe(true)
      })

      it('keeps the ownership epoch of the latest record; a record without one reads back without one', async () => {
        await storage.open()
        storage.putSession({ ...session('c1'), epoch: 3 })
        storage.putSession({ ...session('c1'), epoch: 4 })
        storage.putSession({ ...session('c2'), epoch: 9 })
        storage.putSession(session('c2'))
        const state = await restart()
        const sessions = state.sessions.map((s) => s.session).sort(byClientId)
        expect(sessions).toEqual([{ ...session('c1'), epoch: 4 }, session('c2')])
      })

      it('a new session has no subscriptions, inflight, incoming QoS 2 ids or offline messages', async () => {
        await storage.open()
        storage.putSession(session('c1'))
        expect(await sessionAfterRestart('c1')).toEqual({
          session: session('c1'),
          subscriptions: [],
          inflight: [],
          incomingQos2: [],
          releasedQos2: [],
          offlineCount: 0,
        })
      })

      it('putSession on an existing client replaces the record and keeps what hangs off it', async () => {
        await storage.open()
        storage.putSession({ ...session('c1'), will: { message: message({ topic: 'will/old' }), delayInterval: 5 } })
        fillSession(storage, 'c1')
        const replaced: SessionRecord = { clientId: 'c1', protocol: 'mqtt3', expiryInterval: 60, disconnectedAt: 42 }
        storage.putSession(replaced)
        const stored = await sessionAfterRestart('c1')
        expect(stored?.session).toEqual(replaced)
        expect(stored?.subscriptions).toHaveLength(2)
        expect(stored?.inflight).toHaveLength(1)
        expect(stored?.incomingQos2).toEqual([7])
        expect(stored?.releasedQos2).toEqual([8])
        expect(stored?.offlineCount).toBe(2)
      })

      it('a pending will can be replaced and then cleared', async () => {
        await storage.open()
        storage.putSession({ ...session('c1'), will: { message: message({ topic: 'will/1' }), delayInterval: 5 } })
        storage.putSession({ ...session('c1'), will: { message: message({ topic: 'will/2' }), delayInterval: 9 } })
        const replaced = await sessionAfterRestart('c1')
        expect(replaced?.session.will?.message.topic).toBe('will/2')
        expect(replaced?.session.will?.delayInterval).toBe(9)
        storage.putSession(session('c1'))
        expect((await sessionAfterRestart('c1'))?.session.will).toBeUndefined()
      })

      it('deleteSession removes the session, subscriptions, inflight, incoming QoS 2 ids and offline queue', async () => {
        await storage.open()
        storage.putSession(session('c1'))
        fillSession(storage, 'c1')
        storage.putSession(session('c2'))
        fillSession(storage, 'c2')
        storage.deleteSession('c1')
        expect(await storage.takeOffline('c1', 10)).toEqual([])
        const state = await restart()
        expect(state.sessions.map((s) => s.session.clientId)).toEqual(['c2'])
        expect(await storage.takeOffline('c1', 10)).toEqual([])
        expect(await storage.takeOffline('c2', 10)).toHaveLength(2)
      })

      it('a session deleted and created again in one turn starts empty', async () => {
        await storage.open()
        storage.putSession(session('c1'))
        fillSession(storage, 'c1')
        await storage.sync()
        storage.deleteSession('c1')
        storage.putSession(session('c1'))
        storage.appendOffline('c1', message({ topic: 'fresh' }))
        const stored = await sessionAfterRestart('c1')
        expect(stored).toEqual({
          session: session('c1'),
          subscriptions: [],
          inflight: [],
          incomingQos2: [],
          releasedQos2: [],
          offlineCount: 1,
        })
        expect((await storage.takeOffline('c1', 10)).map((m) => m.topic)).toEqual(['fresh'])
      })

      it('deleteSession of an unknown client changes nothing', async () => {
        await storage.open()
        storage.putSession(session('c1'))
        storage.deleteSession('nobody')
        expect((await restart()).sessions.map((s) => s.session.clientId)).toEqual(['c1'])
      })
    })

    describe('subscriptions', () => {
      it('putSubscription stores every option, user properties in order with duplicates', async () => {
        await storage.open()
        storage.putSession(session('c1'))
        const full: SubscriptionOptions = {
          filter: '$share/g1/sensors/+/temp',
          qos: 2,
          noLocal: false,
          retainAsPublished: true,
          retainHandling: 2,
          subscriptionId: 268_435_455,
          userProperties: [
            ['consumer-group', 'workers'],
            ['k', 'v1'],
            ['k', 'v0'],
          ],
        }
        const plain: SubscriptionOptions = {
          filter: 'a/#',
          qos: 0,
          noLocal: true,
          retainAsPublished: false,
          retainHandling: 1,
        }
        storage.putSubscription('c1', full)
        storage.putSubscription('c1', plain)
        const stored = await sessionAfterRestart('c1')
        expect(sortByFilter(stored?.subscriptions)).toEqual([full, plain])
        const loadedPlain = stored?.subscriptions.find((s) => s.filter === 'a/#')
        expect(loadedPlain !== undefined && !('subscriptionId' in loadedPlain)).toBe(true)
      })

      it('putSubscription of a filter the session has replaces its options', async () => {
        await storage.open()
        storage.putSession(session('c1'))
        storage.putSubscription('c1', subscription('a/b', { qos: 0, subscriptionId: 1 }))
        storage.putSubscription('c1', subscription('a/b', { qos: 2, subscriptionId: 9 }))
        expect((await sessionAfterRestart('c1'))?.subscriptions).toEqual([
          subscription('a/b', { qos: 2, subscriptionId: 9 }),
        ])
      })

      it('deleteSubscription removes that filter of that session only; an unknown filter is a no-op', async () => {
        await storage.open()
        storage.putSession(session('c1'))
        storage.putSession(session('c2'))
        storage.putSubscription('c1', subscription('a/b'))
        storage.putSubscription('c1', subscription('c/d'))
        storage.putSubscription('c2', subscription('a/b'))
        storage.deleteSubscription('c1', 'a/b')
        storage.deleteSubscription('c1', 'never/subscribed')
        const state = await restart()
        expect(filtersOf(state, 'c1')).toEqual(['c/d'])
        expect(filtersOf(state, 'c2')).toEqual(['a/b'])
      })
    })

    describe('inflight', () => {
      it('putInflight stores the record and its message', async () => {
        await storage.open()
        storage.putSession(session('c1'))
        const record: InflightRecord = {
          deliveryId: 0xffffffff,
          message: fullMessage(),
          qos: 2,
          retain: true,
          subscriptionIds: [3, 1, 2],
          state: 'delivered',
        }
        const bare: InflightRecord = { deliveryId: 0x10001, message: message(), qos: 1, retain: false, state: 'delivered' }
        storage.putInflight('c1', record)
        storage.putInflight('c1', bare)
        const stored = await sessionAfterRestart('c1')
        expect(stored?.inflight).toEqual([record, bare])
        expect(stored?.inflight[1] !== undefined && !('subscriptionIds' in stored.inflight[1])).toBe(true)
      })

      it('putInflight of a delivery id in use replaces the record (received: delivered → received)', async () => {
        await storage.open()
        storage.putSession(session('c1'))
        const sent: InflightRecord = { deliveryId: 0x10005, message: message(), qos: 2, retain: false, state: 'delivered' }
        storage.putInflight('c1', sent)
        storage.putInflight('c1', { ...sent, state: 'received' })
        expect((await sessionAfterRestart('c1'))?.inflight).toEqual([{ ...sent, state: 'received' }])
      })

      it('inflight records load in the order first sent, a replaced one keeps its place [MQTT-4.6.0-1]', async () => {
        await storage.open()
        storage.putSession(session('c1'))
        const ids = [0x1012c, 0x10002, 0xffffffff, 0x10001, 0x20028]
        const records = ids.map(
          (deliveryId): InflightRecord => ({ deliveryId, message: message(), qos: 2, retain: false, state: 'delivered' }),
        )
        for (const record of records) storage.putInflight('c1', record)
        const second = records[1]
        if (second === undefined) throw new Error('unreachable')
        storage.putInflight('c1', { ...second, state: 'received' })
        const loaded = (await sessionAfterRestart('c1'))?.inflight
        expect(loaded?.map((r) => r.deliveryId)).toEqual(ids)
        expect(loaded?.[1]?.state).toBe('received')
      })

      it('deleteInflight removes that delivery id only; an unknown id is a no-op', async () => {
        await storage.open()
        storage.putSession(session('c1'))
        storage.putInflight('c1', { deliveryId: 0x10001, message: message(), qos: 1, retain: false, state: 'delivered' })
        storage.putInflight('c1', { deliveryId: 0x20001, message: message(), qos: 1, retain: false, state: 'delivered' })
        storage.deleteInflight('c1', 0x10001)
        storage.deleteInflight('c1', 999)
        expect((await sessionAfterRestart('c1'))?.inflight.map((r) => r.deliveryId)).toEqual([0x20001])
      })
    })

    describe('incoming QoS 2', () => {
      it('putIncomingQos2 records a packet id once however often it is put; delete removes it', async () => {
        await storage.open()
        storage.putSession(session('c1'))
        storage.putIncomingQos2('c1', 10)
        storage.putIncomingQos2('c1', 10)
        storage.putIncomingQos2('c1', 11)
        storage.putIncomingQos2('c1', 65535)
        storage.deleteIncomingQos2('c1', 11)
        storage.deleteIncomingQos2('c1', 12)
        const stored = await sessionAfterRestart('c1')
        expect([...(stored?.incomingQos2 ?? [])].sort((a, b) => a - b)).toEqual([10, 65535])
      })

      it('releaseIncomingQos2 keeps an id as released; put makes it received again, delete forgets it, an unknown id is ignored', async () => {
        await storage.open()
        storage.putSession(session('c1'))
        for (const id of [1, 2, 3]) storage.putIncomingQos2('c1', id)
        storage.releaseIncomingQos2('c1', 1)
        storage.releaseIncomingQos2('c1', 2)
        storage.releaseIncomingQos2('c1', 3)
        storage.releaseIncomingQos2('c1', 4)
        storage.putIncomingQos2('c1', 2)
        storage.deleteIncomingQos2('c1', 3)
        const stored = await sessionAfterRestart('c1')
        expect(stored?.incomingQos2).toEqual([2])
        expect(stored?.releasedQos2).toEqual([1])
      })
    })

    describe('offline queues', () => {
      it('appendOffline keeps FIFO order and takeOffline removes what it returns', async () => {
        await storage.open()
        storage.putSession(session('c1'))
        for (let i = 0; i < 5; i++) storage.appendOffline('c1', message({ topic: `t/${i}` }))
        await storage.sync()
        expect(topics(await storage.takeOffline('c1', 3))).toEqual(['t/0', 't/1', 't/2'])
        expect(topics(await storage.takeOffline('c1', 3))).toEqual(['t/3', 't/4'])
        expect(await storage.takeOffline('c1', 3)).toEqual([])
      })

      it('takeOffline returns at most limit messages; limit 0 returns none and removes none', async () => {
        await storage.open()
        storage.putSession(session('c1'))
        for (let i = 0; i < 4; i++) storage.appendOffline('c1', message({ topic: `t/${i}` }))
        expect(await storage.takeOffline('c1', 0)).toEqual([])
        expect(topics(await storage.takeOffline('c1', 1))).toEqual(['t/0'])
        expect((await sessionAfterRestart('c1'))?.offlineCount).toBe(3)
      })

      it('takeOffline sees appends staged in the same turn (read-your-writes)', async () => {
        await storage.open()
        storage.putSession(session('c1'))
        storage.appendOffline('c1', message({ topic: 'staged' }))
        expect(topics(await storage.takeOffline('c1', 10))).toEqual(['staged'])
      })

      it('two takeOffline calls started in one turn never return the same message', async () => {
        await storage.open()
        storage.putSession(session('c1'))
        for (let i = 0; i < 4; i++) storage.appendOffline('c1', message({ topic: `t/${i}` }))
        const [a, b] = await Promise.all([storage.takeOffline('c1', 2), storage.takeOffline('c1', 5)])
        expect([...topics(a ?? []), ...topics(b ?? [])]).toEqual(['t/0', 't/1', 't/2', 't/3'])
      })

      it('takeOffline of a client without a queue returns nothing', async () => {
        await storage.open()
        expect(await storage.takeOffline('nobody', 10)).toEqual([])
      })

      it('dropOldestOffline drops the n oldest; more than the length empties the queue', async () => {
        await storage.open()
        storage.putSession(session('c1'))
        for (let i = 0; i < 5; i++) storage.appendOffline('c1', message({ topic: `t/${i}` }))
        storage.dropOldestOffline('c1', 2)
        expect((await sessionAfterRestart('c1'))?.offlineCount).toBe(3)
        expect(topics(await storage.takeOffline('c1', 1))).toEqual(['t/2'])
        storage.dropOldestOffline('c1', 100)
        storage.dropOldestOffline('nobody', 1)
        expect((await sessionAfterRestart('c1'))?.offlineCount).toBe(0)
        expect(await storage.takeOffline('c1', 10)).toEqual([])
      })

      it('open reports each queue length; the queue survives restarts in order and grows at its tail', async () => {
        await storage.open()
        storage.putSession(session('c1'))
        storage.putSession(session('c2'))
        for (let i = 0; i < 6; i++) storage.appendOffline('c1', message({ topic: `t/${i}` }))
        await storage.takeOffline('c1', 2)
        let state = await restart()
        expect(countsOf(state)).toEqual({ c1: 4, c2: 0 })
        storage.appendOffline('c1', message({ topic: 't/6' }))
        storage.appendOffline('c2', message({ topic: 'u/0' }))
        state = await restart()
        expect(countsOf(state)).toEqual({ c1: 5, c2: 1 })
        expect(topics(await storage.takeOffline('c1', 100))).toEqual(['t/2', 't/3', 't/4', 't/5', 't/6'])
        expect(topics(await storage.takeOffline('c2', 100))).toEqual(['u/0'])
      })

      it('one Message appended to many sessions reaches each of them independently', async () => {
        await storage.open()
        const shared = fullMessage({ topic: 'fan/out' })
        const clients = Array.from({ length: 50 }, (_, i) => `c${i}`)
        for (const clientId of clients) {
          storage.putSession(session(clientId))
          storage.appendOffline(clientId, shared)
        }
        await storage.sync()
        expect(await storage.takeOffline('c0', 10)).toEqual([shared])
        const state = await restart()
        expect(state.sessions.filter((s) => s.offlineCount === 1)).toHaveLength(49)
        for (const clientId of clients.slice(1)) expect(await storage.takeOffline(clientId, 10)).toEqual([shared])
      })
    })

    describe('retained', () => {
      it('putRetained stores, replaces by topic, and deleteRetained removes; an unknown topic is a no-op', async () => {
        await storage.open()
        storage.putRetained(message({ topic: 'a', retain: true, payload: Buffer.from('1') }))
        storage.putRetained(message({ topic: 'b', retain: true }))
        storage.putRetained(message({ topic: 'c', retain: true }))
        storage.putRetained(message({ topic: 'a', retain: true, payload: Buffer.from('2') }))
        storage.deleteRetained('b')
        storage.deleteRetained('nothing/here')
        const retained = [...(await restart()).retained].sort((x, y) => x.topic.localeCompare(y.topic))
        expect(retained.map((m) => [m.topic, m.payload.toString()])).toEqual([
          ['a', '2'],
          ['c', 'payload'],
        ])
      })
    })

    describe('messages', () => {
      it('a message keeps every field, in every place it is stored', async () => {
        await storage.open()
        const full = fullMessage({ topic: 'm/full' })
        const bare = message({ topic: 'm/bare', payload: Buffer.alloc(0) })
        storage.putSession({ ...session('c1'), will: { message: full, delayInterval: 1 } })
        storage.putSession({ ...session('c2'), will: { message: bare, delayInterval: 1 } })
        storage.putInflight('c1', { deliveryId: 0x10001, message: full, qos: 2, retain: false, state: 'delivered' })
        storage.putInflight('c2', { deliveryId: 0x10001, message: bare, qos: 1, retain: false, state: 'delivered' })
        storage.appendOffline('c1', full)
        storage.appendOffline('c1', bare)
        storage.putRetained(full)
        storage.putRetained(bare)
        const state = await restart()
        const c1 = state.sessions.find((s) => s.session.clientId === 'c1')
        const c2 = state.sessions.find((s) => s.session.clientId === 'c2')
        expect(c1?.session.will?.message).toEqual(full)
        expect(c2?.session.will?.message).toEqual(bare)
        expect(c1?.inflight[0]?.message).toEqual(full)
        expect(c2?.inflight[0]?.message).toEqual(bare)
        expect([...state.retained].sort((x, y) => x.topic.localeCompare(y.topic))).toEqual([bare, full])
        const offline = await storage.takeOffline('c1', 10)
        expect(offline).toEqual([full, bare])
        expect(Buffer.isBuffer(offline[0]?.payload) && Buffer.isBuffer(offline[0]?.properties.correlationData)).toBe(true)
        expect(offline[1]?.payload.length).toBe(0)
      })

      it('absent optional fields stay absent and false stays false', async () => {
        await storage.open()
        const bare = message({ topic: 'm/bare' })
        const falsy = message({ topic: 'm/falsy', properties: { payloadFormatIndicator: false, userProperties: [] } })
        storage.putRetained(bare)
        storage.putRetained(falsy)
        const retained = (await restart()).retained
        const loadedBare = retained.find((m) => m.topic === 'm/bare')
        const loadedFalsy = retained.find((m) => m.topic === 'm/falsy')
        expect(loadedBare !== undefined && Object.keys(loadedBare).sort()).toEqual(
          ['payload', 'properties', 'publishedAt', 'qos', 'retain', 'topic'],
        )
        expect(loadedBare?.properties).toEqual({})
        expect(loadedFalsy?.properties).toStrictEqual({ payloadFormatIndicator: false, userProperties: [] })
      })

      it('a Message held in several places survives until its last holder lets it go', async () => {
        await storage.open()
        const shared = fullMessage({ topic: 'shared', retain: true })
        storage.putSession({ ...session('c1'), will: { message: shared, delayInterval: 0 } })
        storage.putSession(session('c2'))
        storage.putRetained(shared)
        storage.putInflight('c1', { deliveryId: 0x10001, message: shared, qos: 1, retain: true, state: 'delivered' })
        storage.appendOffline('c1', shared)
        storage.appendOffline('c2', shared)
        await storage.sync()
        expect(await storage.takeOffline('c1', 10)).toEqual([shared])
        storage.deleteInflight('c1', 1)
        storage.deleteRetained('shared')
        let state = await restart()
        expect(state.sessions.find((s) => s.session.clientId === 'c1')?.session.will?.message).toEqual(shared)
        storage.putSession(session('c1'))
        state = await restart()
        expect(state.retained).toEqual([])
        expect(await storage.takeOffline('c2', 10)).toEqual([shared])
        storage.putRetained(shared)
        expect((await restart()).retained).toEqual([shared])
      })
    })

    describe('model check', () => {
      for (const seed of [1, 7, 42]) {
        it(`random operations match a reference model across restarts (seed ${seed})`, async () => {
          await storage.open()
          const model = new ReferenceModel()
          const random = mulberry32(seed)
          for (let round = 0; round < 4; round++) {
            for (let step = 0; step < 150; step++) await randomOperation(random, storage, model)
            expect(normalize(await restart())).toEqual(model.state())
          }
        })
      }
    })
  })
}

// ---------------------------------------------------------------------------------------------
// Fixtures

let counter = 0

function message(overrides: Partial<Message> = {}): Message {
  counter += 1
  return {
    topic: `topic/${counter}`,
    payload: Buffer.from('payload'),
    qos: 1,
    retain: false,
    properties: {},
    publishedAt: 1_700_000_000_000 + counter,
    ...overrides,
  }
}

/** Every optional field set, binary and non-ASCII content where a field can hold it. */
function fullMessage(overrides: Partial<Message> = {}): Message {
  return message({
    payload: Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
    qos: 2,
    retain: true,
    properties: {
      payloadFormatIndicator: true,
      contentType: 'application/json; charset=utf-8',
      responseTopic: 'reply/ü/🚀',
      correlationData: Buffer.from([0, 255, 1, 254]),
      userProperties: [
        ['b', '2'],
        ['a', '1'],
        ['b', '2'],
        ['', 'empty name'],
      ],
    },
    expiresAt: 1_800_000_000_000,
    publisherId: 'publisher-Ω',
    ...overrides,
  })
}

function session(clientId: string): SessionRecord {
  return { clientId, protocol: 'mqtt5', expiryInterval: 3600, disconnectedAt: 1_700_000_000_000 }
}

function subscription(filter: string, overrides: Partial<SubscriptionOptions> = {}): SubscriptionOptions {
  return { filter, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, ...overrides }
}

/** Two subscriptions, one inflight, incoming QoS 2 id 7 (8 released), two offline messages. */
function fillSession(storage: Storage, clientId: string): void {
  storage.putSubscription(clientId, subscription('a/+'))
  storage.putSubscription(clientId, subscription('b/#', { qos: 2 }))
  storage.putInflight(clientId, { deliveryId: 0x10001, message: message(), qos: 1, retain: false, state: 'delivered' })
  storage.putIncomingQos2(clientId, 7)
  storage.putIncomingQos2(clientId, 8)
  storage.releaseIncomingQos2(clientId, 8)
  storage.appendOffline(clientId, message())
  storage.appendOffline(clientId, message())
}

function populate(storage: Storage): void {
  for (const clientId of ['p1', 'p2', 'p3']) {
    storage.putSession({ ...session(clientId), will: { message: fullMessage(), delayInterval: 10 } })
    fillSession(storage, clientId)
  }
  storage.putRetained(fullMessage({ topic: 'r/a' }))
  storage.putRetained(message({ topic: 'r/b', retain: true }))
}

function byClientId(a: { clientId: string }, b: { clientId: string }): number {
  return a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0
}

function sortByFilter(subs: readonly SubscriptionOptions[] | undefined): SubscriptionOptions[] {
  return [...(subs ?? [])].sort((a, b) => (a.filter < b.filter ? -1 : a.filter > b.filter ? 1 : 0))
}

function filtersOf(state: StoredState, clientId: string): string[] {
  return sortByFilter(state.sessions.find((s) => s.session.clientId === clientId)?.subscriptions).map((s) => s.filter)
}

function countsOf(state: StoredState): Record<string, number> {
  return Object.fromEntries(state.sessions.map((s) => [s.session.clientId, s.offlineCount]))
}

function topics(messages: readonly Message[]): string[] {
  return messages.map((m) => m.topic)
}

/**
 * The state in a form two backends agree on: the interface orders inflight records (resend
 * order) but not sessions, subscriptions, incoming ids or retained messages.
 */
function normalize(state: StoredState): StoredState {
  return {
    sessions: state.sessions
      .map((s) => ({
        ...s,
        subscriptions: sortByFilter(s.subscriptions),
        incomingQos2: [...s.incomingQos2].sort((a, b) => a - b),
        releasedQos2: [...s.releasedQos2].sort((a, b) => a - b),
      }))
      .sort((a, b) => byClientId(a.session, b.session)),
    retained: [...state.retained].sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0)),
  }
}

// ---------------------------------------------------------------------------------------------
// Model check: the simplest possible Storage semantics, written as plain maps.

interface ModelSession {
  session: SessionRecord
  subscriptions: Map<string, SubscriptionOptions>
  inflight: Map<number, InflightRecord>
  /** Packet id → released. */
  incomingQos2: Map<number, boolean>
}

class ReferenceModel {
  readonly sessions = new Map<string, ModelSession>()
  readonly offline = new Map<string, Message[]>()
  readonly retained = new Map<string, Message>()

  state(): StoredState {
    return normalize({
      sessions: [...this.sessions.values()].map((s) => ({
        session: s.session,
        subscriptions: [...s.subscriptions.values()],
        inflight: [...s.inflight.values()],
        incomingQos2: [...s.incomingQos2].filter(([, released]) => !released).map(([id]) => id),
        releasedQos2: [...s.incomingQos2].filter(([, released]) => released).map(([id]) => id),
        offlineCount: this.offline.get(s.session.clientId)?.length ?? 0,
      })),
      retained: [...this.retained.values()],
    })
  }
}

const CLIENTS = ['m0', 'm1', 'm2', 'm3']

async function randomOperation(random: () => number, storage: Storage, model: ReferenceModel): Promise<void> {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T
  const clientId = pick(CLIENTS)
  const live = model.sessions.get(clientId)
  const recent = [...model.retained.values(), ...[...model.sessions.values()].flatMap((s) => [...s.inflight.values()].map((r) => r.message))]
  // Reusing stored Message objects exercises one message held in several places.
  const someMessage = (): Message => (recent.length > 0 && random() < 0.3 ? pick(recent) : message({ topic: `m/${pick(['a', 'b', 'c'])}` }))
  const roll = random()
  if (live === undefined || roll < 0.06) {
    const record: SessionRecord =
      random() < 0.5
        ? session(clientId)
        : { ...session(clientId), will: { message: someMessage(), delayInterval: Math.floor(random() * 100) } }
    storage.putSession(record)
    if (live === undefined) {
      model.sessions.set(clientId, { session: record, subscriptions: new Map(), inflight: new Map(), incomingQos2: new Map() })
    } else {
      live.session = record
    }
  } else if (roll < 0.1) {
    storage.deleteSession(clientId)
    model.sessions.delete(clientId)
    model.offline.delete(clientId)
  } else if (roll < 0.2) {
    const sub = subscription(pick(['a/+', 'b/#', '$share/g/c', 'd']), { qos: pick([0, 1, 2] as const) })
    storage.putSubscription(clientId, sub)
    live.subscriptions.set(sub.filter, sub)
  } else if (roll < 0.25) {
    const filter = pick(['a/+', 'b/#', '$share/g/c', 'd'])
    storage.deleteSubscription(clientId, filter)
    live.subscriptions.delete(filter)
  } else if (roll < 0.37) {
    const deliveryId = 0x10001 + Math.floor(random() * 6)
    const existing = live.inflight.get(deliveryId)
    const record: InflightRecord =
      existing !== undefined && random() < 0.5
        ? { ...existing, state: 'received' }
        : { deliveryId, message: someMessage(), qos: pick([1, 2] as const), retain: random() < 0.5, state: 'delivered' }
    storage.putInflight(clientId, record)
    live.inflight.set(deliveryId, record)
  } else if (roll < 0.45) {
    const deliveryId = 0x10001 + Math.floor(random() * 6)
    storage.deleteInflight(clientId, deliveryId)
    live.inflight.delete(deliveryId)
  } else if (roll < 0.5) {
    const packetId = 1 + Math.floor(random() * 4)
    const op = random()
    if (op < 0.45) {
      storage.putIncomingQos2(clientId, packetId)
      live.incomingQos2.set(packetId, false)
    } else if (op < 0.7) {
      storage.releaseIncomingQos2(clientId, packetId)
      if (live.incomingQos2.has(packetId)) live.incomingQos2.set(packetId, true)
    } else {
      storage.deleteIncomingQos2(clientId, packetId)
      live.incomingQos2.delete(packetId)
    }
  } else if (roll < 0.72) {
    const m = someMessage()
    storage.appendOffline(clientId, m)
    model.offline.set(clientId, [...(model.offline.get(clientId) ?? []), m])
  } else if (roll < 0.77) {
    const n = Math.floor(random() * 3)
    storage.dropOldestOffline(clientId, n)
    model.offline.set(clientId, (model.offline.get(clientId) ?? []).slice(n))
  } else if (roll < 0.87) {
    const limit = Math.floor(random() * 4)
    const queue = model.offline.get(clientId) ?? []
    expect(await storage.takeOffline(clientId, limit)).toEqual(queue.slice(0, limit))
    model.offline.set(clientId, queue.slice(limit))
  } else if (roll < 0.95) {
    const m = { ...someMessage(), retain: true }
    storage.putRetained(m)
    model.retained.set(m.topic, m)
  } else {
    const topic = `m/${pick(['a', 'b', 'c'])}`
    storage.deleteRetained(topic)
    model.retained.delete(topic)
  }
  if (random() < 0.1) await storage.sync()
}

/** A small seeded PRNG, so a failing sequence replays from its seed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
