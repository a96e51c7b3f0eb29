import { beforeAll, describe, expect, it } from 'vitest'
import { MemoryStorage, type Message, type StoredSession } from '@fluxmq/core'
import type { SessionOwnership } from '@fluxmq/cluster-etcd'
import type { ForwardRouting } from '@fluxmq/cluster-transport'
import { Cleanup, until } from '@fluxmq/testing'
import { ReturningSessions } from './returning-sessions.js'
import { etcdForFile } from './test-support/etcd.js'
import { silent } from './test-support/silent.js'

const cleanup = new Cleanup()
const etcd = etcdForFile(cleanup)
let n1: SessionOwnership
let n2: SessionOwnership
let n3: SessionOwnership

beforeAll(async () => {
  ;[n1, n2, n3] = (await Promise.all(['n1', 'n2', 'n3'].map(async (nodeId) => (await etcd.node('returning', nodeId)).ownership))) as [SessionOwnership, SessionOwnership, SessionOwnership]
}, 60_000)

function message(topic: string): Message {
  return { topic, payload: Buffer.from(topic), qos: 1, retain: false, properties: {}, publishedAt: Date.now() }
}

/** A stored session as node n1 finds it when it starts again: two inflight records (one already PUBREC'd) and two queued. */
async function storedOn(storage: MemoryStorage, clientId: string): Promise<StoredSession> {
  await storage.open()
  storage.putSession({ clientId, protocol: 'mqtt5', expiryInterval: 600, epoch: 1 })
  storage.putInflight(clientId, { deliveryId: 0x10001, message: message(`${clientId}/inflight`), qos: 1, retain: false, state: 'delivered' })
  storage.putInflight(clientId, { deliveryId: 0x10002, message: message(`${clientId}/released`), qos: 2, retain: false, state: 'received' })
  storage.appendOffline(clientId, message(`${clientId}/offline-1`))
  storage.appendOffline(clientId, message(`${clientId}/offline-2`))
  const stored = (await storage.open()).sessions.find((s) => s.session.clientId === clientId)
  if (stored === undefined) throw new Error(`${clientId} not stored`)
  return stored
}

interface Sent {
  readonly node: string
  readonly topic: string
  readonly routing: ForwardRouting
}

async function offlineCount(storage: MemoryStorage, clientId: string): Promise<number | undefined> {
  return (await storage.open()).sessions.find((s) => s.session.clientId === clientId)?.offlineCount
}

describe('ReturningSessions (real etcd)', () => {
  it('hands unsettled inflight deliveries (with their ids) then queued messages to the owner, for that client, and deletes them only once accepted', async () => {
    const storage = new MemoryStorage()
    const stored = await storedOn(storage, 'c1')
    const owner = await n2.claim('c1')
    const sent: Sent[] = []
    let accept!: () => void
    const accepted = new Promise<void>((resolve) => (accept = resolve))
    const returning = new ReturningSessions({
      nodeId: 'n1',
      ownership: n1,
      storage,
      send: (node, m, routing) => {
        sent.push({ node, topic: m.topic, routing })
        return accepted
      },
      logger: silent,
    })
    returning.handOn(stored, { node: 'n2', epoch: owner.epoch })
    await until(() => sent.length === 4, 'four messages sent')
    // Inflight ones go with their delivery id and state (the owner resends them under the same
    // packet id, or the PUBREL of the PUBREC'd one); queued ones as plain relays.
    expect(sent).toEqual([
      { node: 'n2', topic: 'c1/inflight', routing: { relayFor: 'c1', carried: { deliveryId: 0x10001, qos: 1, retain: false, received: false } } },
      { node: 'n2', topic: 'c1/released', routing: { relayFor: 'c1', carried: { deliveryId: 0x10002, qos: 2, retain: false, received: true } } },
      ...['c1/offline-1', 'c1/offline-2'].map((topic) => ({ node: 'n2', topic, routing: { relayFor: 'c1' } })),
    ])
    // Not accepted yet: the queue is still whole here.
    expect(await offlineCount(storage, 'c1')).toBe(2)
    expect(returning.handing).toBe(1)
    accept()
    await returning.settled()
    expect(await offlineCount(storage, 'c1')).toBeUndefined()
  })

  it('hands nothing of a session without expiry on (it ended with its connection): deletes it', async () => {
    const storage = new MemoryStorage()
    await storage.open()
    storage.putSession({ clientId: 'c0', protocol: 'mqtt3', expiryInterval: 0, epoch: 1 })
    storage.putInflight('c0', { deliveryId: 0x10001, message: message('c0/inflight'), qos: 1, retain: false, state: 'delivered' })
    const stored = (await storage.open()).sessions.find((s) => s.session.clientId === 'c0') as StoredSession
    const owner = await n2.claim('c0')
    const sent: string[] = []
    const returning = new ReturningSessions({
      nodeId: 'n1',
      ownership: n1,
      storage,
      send: (_node, m) => {
        sent.push(m.topic)
        return Promise.resolve()
      },
      logger: silent,
    })
    returning.handOn(stored, { node: 'n2', epoch: owner.epoch })
    await returning.settled()
    expect(sent).toEqual([])
    expect((await storage.open()).sessions).toEqual([])
  })

  it('sends everything again to a newer owner, retries a refused send, and keeps the copy while no node owns the session', async () => {
    const storage = new MemoryStorage()
    const moving = await storedOn(storage, 'c2')
    const first = await n2.claim('c2')
    const sent: Sent[] = []
    let refusals = 1
    const returning = new ReturningSessions({
      nodeId: 'n1',
      ownership: n1,
      storage,
      send: async (node, m, routing) => {
        sent.push({ node, topic: m.topic, routing })
        if (m.topic.startsWith('c2') && node === 'n2' && m.topic.endsWith('offline-2')) {
          // The session moves on to n3 while n2 takes what n1 sends: n2 may have dropped it.
          await n3.claim('c2')
        }
        if (node === 'n3' && refusals > 0) {
          refusals -= 1
          throw new Error('refused')
        }
      },
      logger: silent,
    })
    returning.handOn(moving, { node: 'n2', epoch: first.epoch })
    await returning.settled()
    const to = (node: string) => sent.filter((s) => s.node === node).map((s) => s.topic)
    const all = ['c2/inflight', 'c2/released', 'c2/offline-1', 'c2/offline-2']
    expect(to('n2')).toEqual(all)
    // Once refused (all four sent in parallel, one refusal fails the round), then accepted.
    expect(to('n3')).toEqual([...all, ...all])
    expect(await offlineCount(storage, 'c2')).toBeUndefined()

    // The owner ended the session before the hand-on was confirmed: nobody to give it to, kept here.
    const orphan = await storedOn(storage, 'c3')
    const gone = await n2.claim('c3')
    expect(await n2.release('c3', gone.epoch)).toBe(true)
    returning.handOn(orphan, { node: 'n2', epoch: gone.epoch })
    await returning.settled()
    expect(await offlineCount(storage, 'c3')).toBe(2)
  })
})
