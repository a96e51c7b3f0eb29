import { describe, expect, it } from 'vitest'
import { BrokerError, BrokerErrorCode } from './errors.js'
import { MemoryStorage } from './memory-storage.js'
import { Refusal } from './refusal.js'
import { connect, createWorld, message } from './test-support/harness.js'
import { RecordingCluster } from './test-support/recording-cluster.js'

describe('Broker and the Cluster seam', () => {
  it('acquires ownership before attaching and reports server_unavailable when it cannot', async () => {
    const cluster = new RecordingCluster()
    const w = await createWorld({}, { cluster })
    await connect(w, 'c')
    expect(cluster.calls).toEqual(['claim stored ', 'acquire c'])
    cluster.fail = true
    await expect(connect(w, 'd')).rejects.toThrow(/connect d failed: server_unavailable/)
  })

  it('adds a route when the local count of a filter goes 0→1 and removes it at 1→0', async () => {
    const cluster = new RecordingCluster()
    const w = await createWorld({}, { cluster })
    const a = await connect(w, 'a')
    const b = await connect(w, 'b')
    a.subscribe('x/#', 1)
    b.subscribe('x/#', 1)
    a.subscribe('$share/g/y', 1)
    b.subscribe('$share/g/y', 1)
    a.subscribe('x/#', 2)
    w.broker.unsubscribe(a.handle, ['x/#', '$share/g/y'])
    b.disconnect()
    expect(cluster.calls.filter((c) => !c.startsWith('acquire') && !c.startsWith('claim'))).toEqual([
      'add x/#',
      'add $share/g/y',
      'remove x/#',
      'remove $share/g/y',
      'release b',
    ])
  })

  it('deliverAmong offers a publish only to the matching sessions it names, without forwarding it', async () => {
    const cluster = new RecordingCluster()
    const w = await createWorld({ sysIntervalMs: 1000 }, { cluster })
    const [a, b, c] = [await connect(w, 'a'), await connect(w, 'b'), await connect(w, 'c')]
    a.subscribe('w/#', 2)
    b.subscribe('w/#', 1)
    c.subscribe('other', 1)
    const offered = cluster.inbound?.deliverAmong(message(w.clock, 'w/x', 'resent', 1), (clientId) => clientId !== 'b')
    expect(offered).toEqual(['a'])
    expect(a.link.take().map((r) => r.payload)).toEqual(['resent'])
    expect([...b.link.take(), ...c.link.take()]).toEqual([])
    expect(cluster.forwarded).toEqual([])
  })

  it('forwards client publishes and wills, delivers deliverLocal without forwarding again', async () => {
    const cluster = new RecordingCluster()
    const w = await createWorld({ sysIntervalMs: 1000 }, { cluster })
    const sub = await connect(w, 'sub')
    sub.subscribe('t', 1)
    const pub = await connect(w, 'p')
    pub.publish('t', 'local', 1)
    w.broker.tick(w.clock.t)
    cluster.inbound?.deliverLocal(message(w.clock, 't', 'remote', 1))
    expect(cluster.forwarded.map((m) => m.payload.toString())).toEqual(['local'])
    // Its publisher sends it again if a node refuses it; a will's does not (see the wills below).
    expect(cluster.calls.filter((c) => c.startsWith('forward'))).toEqual(['forward t'])
    expect(sub.link.take().map((r) => r.payload)).toEqual(['local', 'remote'])
  })

  it('adopts a session transferred from another node', async () => {
    const cluster = new RecordingCluster()
    const w = await createWorld({}, { cluster })
    const m = message(w.clock, 'inbox/c', 'queued', 1)
    cluster.transfer = {
      session: { clientId: 'c', protocol: 'mqtt5', expiryInterval: 600, disconnectedAt: w.clock.t },
      subscriptions: [{ filter: 'inbox/+', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
      inflight: [{ deliveryId: 0x20011, message: message(w.clock, 'inbox/c', 'inflight', 1), qos: 1, retain: false, state: 'delivered' }],
      incomingQos2: [5],
      offline: [m],
    }
    const c = await connect(w, 'c', { cleanStart: false, expiry: 600 })
    expect(c.sessionPresent).toBe(true)
    expect(c.link.take().map((r) => [r.payload, r.deliveryId, r.dup])).toEqual([
      ['inflight', 0x20011, true],
      ['queued', 0x20012, false],
    ])
    expect(w.broker.releaseExactlyOnce(c.handle, 5)).toBe(true)
    const stored = (await w.storage.open()).sessions.find((s) => s.session.clientId === 'c')
    expect(stored?.subscriptions.map((s) => s.filter)).toEqual(['inbox/+'])
  })

  it('resends a carried delivery with its delivery id and DUP, a received one as its second phase, and offers one whose short id is taken as new', async () => {
    const cluster = new RecordingCluster()
    const w = await createWorld({}, { cluster })
    const c = await connect(w, 'c', { cleanStart: false, expiry: 600 })
    c.subscribe('inbox/#', 2)
    const pub = await connect(w, 'p')
    pub.publish('inbox/c', 'local', 2)
    const [local] = c.link.take()
    if (local === undefined) throw new Error('no local delivery')
    const inbound = cluster.inbound
    if (inbound === undefined) throw new Error('not attached')
    const carry = (payload: string, deliveryId: number, received: boolean): boolean =>
      inbound.deliverTo('c', message(w.clock, 'inbox/c', payload, 2), { deliveryId, qos: 2, retain: false, received })
    expect(carry('sent-there', 0x50007, false)).toBe(true)
    expect(carry('received-there', 0x50008, true)).toBe(true)
    // The short id of the local delivery is in use here: the carried one gets a new id; received, it is dropped.
    expect(carry('collides', 0x60000 | (local.deliveryId & 0xffff), false)).toBe(true)
    expect(carry('collides-received', 0x70000 | (local.deliveryId & 0xffff), true)).toBe(true)
    const sent = c.link.take().map((r) => [r.payload, r.deliveryId, r.dup])
    expect(sent.slice(0, 1)).toEqual([['sent-there', 0x50007, true]])
    expect(sent).toHaveLength(2)
    expect(sent[1]?.[0]).toBe('collides')
    expect((sent[1]?.[1] as number) & 0xffff).not.toBe(local.deliveryId & 0xffff)
    expect(sent[1]?.[2]).toBe(false)
    expect(c.link.secondPhase).toEqual([0x50008])
    // The client settles them by the carried ids; they are stored with them meanwhile.
    const stored = (await w.storage.open()).sessions.find((x) => x.session.clientId === 'c')
    expect(stored?.inflight.map((r) => [r.deliveryId, r.state]).sort()).toEqual(
      [[local.deliveryId, 'delivered'], [0x50007, 'delivered'], [0x50008, 'received'], [sent[1]?.[1], 'delivered']].sort(),
    )
    expect(w.broker.received(c.handle, 0x0007)).toBe(true)
    expect(w.broker.settle(c.handle, 0x0007, 'accepted')).toBe(true)
    expect(w.broker.settle(c.handle, 0x0008, 'accepted')).toBe(true)
  })

  it('offers what was held during a transfer, then relays, to the moved session alone, after its offline queue', async () => {
    const cluster = new RecordingCluster()
    const w = await createWorld({}, { cluster })
    const other = await connect(w, 'other')
    other.subscribe('inbox/#', 1)
    cluster.transfer = {
      session: { clientId: 'c', protocol: 'mqtt5', expiryInterval: 600, disconnectedAt: w.clock.t },
      subscriptions: [
        { filter: 'inbox/+', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: 3 },
        { filter: 'inbox/#', qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: 4 },
        { filter: 'own/#', qos: 1, noLocal: true, retainAsPublished: false, retainHandling: 0 },
      ],
      inflight: [],
      incomingQos2: [],
      offline: [message(w.clock, 'inbox/c', 'queued', 1)],
    }
    cluster.held = [message(w.clock, 'inbox/c', 'held', 2), message(w.clock, 'elsewhere', 'unmatched', 1), { ...message(w.clock, 'own/x', 'own', 1), publisherId: 'c' }]
    const c = await connect(w, 'c', { cleanStart: false, expiry: 600 })
    // Behind the adopted queue in Storage: read back asynchronously.
    await new Promise((resolve) => setImmediate(resolve))
    // Overlapping subscriptions merged as routing merges them [MQTT-3.3.4-2] [MQTT-3.3.4-3]; No Local kept.
    const first = c.link.take()
    expect(first.map((r) => [r.payload, r.qos, r.subscriptionIds])).toEqual([
      ['queued', 1, [3, 4]],
      ['held', 2, [3, 4]],
    ])
    for (const r of first) c.ack(r)
    expect(cluster.inbound?.deliverTo('c', message(w.clock, 'inbox/d', 'relayed', 1))).toBe(true)
    expect(cluster.inbound?.deliverTo('gone', message(w.clock, 'inbox/d', 'nobody', 1))).toBe(false)
    await new Promise((resolve) => setImmediate(resolve))
    expect(c.link.take().map((r) => r.payload)).toEqual(['relayed'])
    // The other local subscriber had its copies through ordinary routing, not through these.
    expect(other.link.take()).toEqual([])
  })

  it('surrenders a session: session_taken_over to the client, everything handed over, nothing left here', async () => {
    const cluster = new RecordingCluster()
    const w = await createWorld({}, { cluster })
    const c = await connect(w, 'c', { cleanStart: false, expiry: 600, receiveMaximum: 1 })
    c.subscribe('t', 2)
    const pub = await connect(w, 'p')
    pub.publish('t', 'inflight', 2)
    pub.publish('t', 'pending', 2)
    const t = await cluster.inbound?.surrenderSession('c', 2)
    expect(c.link.closed).toBe(Refusal.SessionTakenOver)
    expect(t?.session.clientId).toBe('c')
    expect(t?.subscriptions.map((s) => s.filter)).toEqual(['t'])
    expect(t?.inflight.map((r) => r.message.payload.toString())).toEqual(['inflight'])
    expect(t?.offline.map((m) => m.payload.toString())).toEqual(['pending'])
    expect(w.broker.stats).toMatchObject({ sessionsCurrent: 1, subscriptionsCurrent: 0, inflightCurrent: 0, offlineQueuedCurrent: 0 })
    expect((await w.storage.open()).sessions).toEqual([])
    expect(await cluster.inbound?.surrenderSession('nobody', 2)).toBeUndefined()
  })

  it('surrenders a stored session with nothing queued: its rows leave Storage too, so a restart does not hand its inflight on again', async () => {
    const cluster = new RecordingCluster()
    const w = await createWorld({}, { cluster })
    const c = await connect(w, 'c', { cleanStart: false, expiry: 600 })
    c.subscribe('t', 2)
    const pub = await connect(w, 'p')
    pub.publish('t', 'inflight', 2)
    expect(c.link.take().map((r) => r.payload)).toEqual(['inflight'])
    const t = await cluster.inbound?.surrenderSession('c', 2)
    expect(t?.inflight.map((r) => r.message.payload.toString())).toEqual(['inflight'])
    expect(t?.offline).toEqual([])
    expect((await w.storage.open()).sessions).toEqual([])
  })
})

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (err: Error) => void } {
  let resolve!: () => void
  let reject!: (err: Error) => void
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** Whether a promise has settled, after every microtask queued so far ran. */
async function settled(p: Promise<void>): Promise<boolean> {
  let done = false
  p.then(
    () => (done = true),
    () => (done = true),
  )
  await new Promise((r) => setImmediate(r))
  return done
}

describe('forward answers with the remote acceptance', () => {
  it('answers Success, not NoMatchingSubscribers, when no local session matched but the publish went to another node', async () => {
    const cluster = new RecordingCluster()
    const w = await createWorld({}, { cluster })
    const pub = await connect(w, 'p')
    expect(pub.publish('t', 'nowhere', 1).reason).toBe('no_subscribers')
    cluster.acceptance = () => Promise.resolve()
    expect(pub.publish('t', 'elsewhere', 1).reason).toBe('accepted')
    expect(pub.publish('t', 'elsewhere', 0).reason).toBe('accepted')
  })

  it('a QoS 1 publish is durable only once the nodes it was forwarded to accepted it', async () => {
    const cluster = new RecordingCluster()
    const w = await createWorld({}, { cluster })
    const pub = await connect(w, 'p')
    const remote = deferred()
    cluster.acceptance = () => remote.promise
    const r = pub.publish('t', 'x', 1)
    expect(r.durable).toBeDefined()
    expect(await settled(r.durable as Promise<void>)).toBe(false)
    remote.resolve()
    await expect(r.durable).resolves.toBeUndefined()
  })

  it('a stored write and the remote acceptance are both awaited; a refusal rejects', async () => {
    const cluster = new RecordingCluster()
    const w = await createWorld({}, { cluster })
    const sub = await connect(w, 's', { cleanStart: false, expiry: 600 })
    sub.subscribe('t', 1)
    sub.disconnect(false)
    const pub = await connect(w, 'p')
    const remote = deferred()
    cluster.acceptance = () => remote.promise
    const r = pub.publish('t', 'queued', 1)
    expect(await settled(r.durable as Promise<void>)).toBe(false)
    remote.reject(new Error('node n2 refused'))
    await expect(r.durable).rejects.toThrow('node n2 refused')
  })

  it('routes a QoS 1 publish once its routes settled, and does not acknowledge it when the broker stopped meanwhile', async () => {
    const settling = deferred()
    const cluster = Object.assign(new RecordingCluster(), { routesSettling: (topic: string) => (topic === 'dead/x' ? settling.promise : undefined) })
    const w = await createWorld({}, { cluster })
    const pub = await connect(w, 'p')
    const r = pub.publish('dead/x', 'late', 1)
    expect(r.reason).toBe('accepted')
    expect(cluster.forwarded).toEqual([])
    await w.broker.stop()
    settling.resolve()
    await expect(r.durable).rejects.toMatchObject({ code: BrokerErrorCode.PublishRefused, reason: Refusal.ServerShuttingDown })
    expect(cluster.forwarded).toEqual([])
  })

  it('QoS 0 waits for nobody, and nothing waits when nothing was forwarded', async () => {
    const cluster = new RecordingCluster()
    const w = await createWorld({}, { cluster })
    const pub = await connect(w, 'p')
    cluster.acceptance = () => Promise.reject(new Error('refused'))
    expect(pub.publish('t', 'x', 0).durable).toBeUndefined()
    cluster.acceptance = undefined
    expect(pub.publish('t', 'x', 1).durable).toBeUndefined()
  })
})

describe('start-up claims stored sessions through the seam', () => {
  async function storedSession(disconnectedAt?: number): Promise<MemoryStorage> {
    const storage = new MemoryStorage()
    await storage.open()
    const clock = { now: () => 1_700_000_000_000 }
    // No disconnectedAt: the broker died while the client was connected, so its will is due at start.
    const will = { message: message(clock, 'will/c', 'gone', 1), delayInterval: disconnectedAt === undefined ? 0 : 60 }
    storage.putSession({ clientId: 'c', protocol: 'mqtt5', expiryInterval: 600, epoch: 4, will, ...(disconnectedAt === undefined ? {} : { disconnectedAt }) })
    storage.putSubscription('c', { filter: 'x/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 })
    await storage.close()
    return storage
  }

  it('claims them before their routes are added or their wills fired, and keeps the new epoch', async () => {
    const cluster = new RecordingCluster()
    const storage = await storedSession()
    const w = await createWorld({}, { cluster, storage })
    expect(cluster.calls).toEqual(['claim stored c@4+will', 'add x/#'])
    // The will the crash left due goes out at the first tick, once the node could have joined.
    w.broker.tick(w.clock.t)
    await new Promise((resolve) => setImmediate(resolve))
    // Given up in the cluster under the claim's epoch first, so no leader publishes it too.
    expect(cluster.calls).toEqual(['claim stored c@4+will', 'add x/#', 'take will c@5', 'forward will/c unattended'])
    expect(w.broker.session('c')).toBeDefined()
    await w.broker.stop()
    expect((await storage.open()).sessions[0]?.session.epoch).toBe(5)
  })

  it('a session stored for its will alone (no expiry) ends at the first tick, not inside start(), its will given up and published then', async () => {
    const storage = new MemoryStorage()
    await storage.open()
    storage.putSession({ clientId: 'c', protocol: 'mqtt3', expiryInterval: 0, epoch: 4, will: { message: message({ now: () => 1_700_000_000_000 }, 'will/c', 'gone', 1), delayInterval: 0 } })
    await storage.close()
    const cluster = new RecordingCluster()
    const w = await createWorld({}, { cluster, storage })
    expect(cluster.calls).toEqual(['claim stored c@4+will'])
    expect(w.broker.session('c')).toBeDefined()
    w.broker.tick(w.clock.t)
    await new Promise((resolve) => setImmediate(resolve))
    // Given up while the claim still fences it, then released; published once the give-up is answered.
    expect(cluster.calls).toEqual(['claim stored c@4+will', 'take will c@5', 'release c', 'forward will/c unattended'])
    expect(w.broker.session('c')).toBeUndefined()
    expect((await storage.open()).sessions).toEqual([])
  })

  it('a stored will the cluster handled while this node was down is not published, and leaves the stored record', async () => {
    // Due at start (the crash closed the connection), and due in a minute (closed before the crash).
    for (const disconnectedAt of [undefined, 1_700_000_000_000]) {
      const cluster = new RecordingCluster()
      cluster.willsHandled.add('c')
      const storage = await storedSession(disconnectedAt)
      const w = await createWorld({}, { cluster, storage })
      w.clock.t += 120_000
      w.broker.tick(w.clock.t)
      expect(cluster.calls).toEqual(['claim stored c@4+will', 'add x/#'])
      expect(w.broker.stats.messagesReceived).toBe(0)
      expect(w.broker.session('c')).toBeDefined()
      await w.broker.stop()
      expect((await storage.open()).sessions[0]?.session.will).toBeUndefined()
    }
  })

  it('a stored session another node owns is not loaded: no route, no will, its stored state kept', async () => {
    const cluster = new RecordingCluster()
    cluster.foreign.add('c')
    const storage = await storedSession()
    const w = await createWorld({}, { cluster, storage })
    expect(cluster.calls).toEqual(['claim stored c@4+will'])
    expect(w.broker.session('c')).toBeUndefined()
    expect(w.broker.stats.sessionsCurrent).toBe(0)
    await w.broker.stop()
    expect((await storage.open()).sessions.map((s) => s.session.clientId)).toEqual(['c'])
  })
})

describe('fencing by ownership epoch', () => {
  it('a session remembers the epoch of its claim and its stored record carries it', async () => {
    const cluster = new RecordingCluster()
    cluster.epoch = 5
    const w = await createWorld({}, { cluster })
    await connect(w, 'c', { cleanStart: false, expiry: 600 })
    expect((await w.storage.open()).sessions[0]?.session.epoch).toBe(5)
  })

  it('a surrender request not newer than the epoch held here is refused and changes nothing', async () => {
    const cluster = new RecordingCluster()
    cluster.epoch = 5
    const w = await createWorld({}, { cluster })
    const c = await connect(w, 'c', { cleanStart: false, expiry: 600 })
    await expect(cluster.inbound?.surrenderSession('c', 5)).rejects.toMatchObject({ code: BrokerErrorCode.StaleEpoch })
    await expect(cluster.inbound?.surrenderSession('c', 4)).rejects.toBeInstanceOf(BrokerError)
    expect(c.link.closed).toBeUndefined()
    const t = await cluster.inbound?.surrenderSession('c', 6)
    expect(c.link.closed).toBe(Refusal.SessionTakenOver)
    expect(t?.session.epoch).toBe(5)
  })

  it('a claim older than the epoch held here is refused (server_unavailable) and the session stays', async () => {
    const cluster = new RecordingCluster()
    cluster.epoch = 5
    const w = await createWorld({}, { cluster })
    const c = await connect(w, 'c', { cleanStart: false, expiry: 600 })
    cluster.epoch = 4
    await expect(connect(w, 'c', { cleanStart: false, expiry: 600 })).rejects.toThrow(/connect c failed: server_unavailable/)
    expect(c.link.closed).toBeUndefined()
    expect(c.publish('t', 'still here').reason).not.toBe(Refusal.SessionTakenOver)
  })

  it('transferred state not older than the claim is refused', async () => {
    const cluster = new RecordingCluster()
    cluster.epoch = 7
    const w = await createWorld({}, { cluster })
    cluster.transfer = {
      session: { clientId: 'c', protocol: 'mqtt5', expiryInterval: 600, epoch: 7 },
      subscriptions: [],
      inflight: [],
      incomingQos2: [],
      offline: [],
    }
    await expect(connect(w, 'c', { cleanStart: false, expiry: 600 })).rejects.toThrow(/connect c failed: server_unavailable/)
    expect(w.broker.session('c')).toBeUndefined()
  })
})

/** A world on `cluster` with a `will/#` watcher and a persistent client `c` with a will on `will/c`. */
async function withWill(cluster: RecordingCluster, will = { delayInterval: 0 }, expiry = 600) {
  const w = await createWorld({}, { cluster })
  const watch = await connect(w, 'watch')
  watch.subscribe('will/#', 1)
  const c = await connect(w, 'c', { cleanStart: false, expiry, will: { message: message(w.clock, 'will/c', 'gone', 1), ...will } })
  return { w, watch, c }
}

describe('wills of stored sessions are given up by the cluster first (takeWill)', () => {
  it('is published once the cluster answers that the will is this node’s, not before', async () => {
    const cluster = new RecordingCluster()
    let answer!: (mine: boolean) => void
    cluster.willTaken = new Promise((resolve) => (answer = resolve))
    const { watch, c } = await withWill(cluster)
    c.disconnect(true)
    expect(cluster.calls).toContain('take will c@1')
    await Promise.resolve()
    expect(watch.link.received).toEqual([])
    answer(true)
    await new Promise((resolve) => setImmediate(resolve))
    expect(watch.link.take().map((r) => r.payload)).toEqual(['gone'])
  })

  it('is never published here when the cluster answers that another node owns the session (the leader has it)', async () => {
    const cluster = new RecordingCluster()
    cluster.willTaken = false
    const { w, watch, c } = await withWill(cluster, { delayInterval: 5 })
    c.disconnect(true)
    w.clock.t += 5_000
    w.broker.tick(w.clock.t)
    await new Promise((resolve) => setImmediate(resolve))
    expect(cluster.calls).toContain('take will c@1')
    expect(watch.link.received).toEqual([])
    expect(cluster.calls).not.toContain('forward will/c')
  })

  it('of a session that ends is given up before the session is released', async () => {
    const cluster = new RecordingCluster()
    const { w, watch, c } = await withWill(cluster, { delayInterval: 60 }, 2)
    c.disconnect(true)
    w.clock.t += 2_000
    w.broker.tick(w.clock.t)
    await new Promise((resolve) => setImmediate(resolve))
    expect(cluster.calls.filter((call) => /^(take will|release) c/.test(call))).toEqual(['take will c@1', 'release c'])
    expect(watch.link.take().map((r) => r.payload)).toEqual(['gone'])
  })

  it('stores the will of a session that ends with its connection too (the leader publishes it when this node dies), and gives it up first', async () => {
    const cluster = new RecordingCluster()
    const w = await createWorld({}, { cluster })
    const watch = await connect(w, 'watch')
    watch.subscribe('will/#', 1)
    const c = await connect(w, 'c', { will: { message: message(w.clock, 'will/c', 'gone', 1), delayInterval: 0 } })
    expect((await w.storage.open()).sessions.map((stored) => stored.session.clientId)).toEqual(['c'])
    c.disconnect(true)
    await new Promise((resolve) => setImmediate(resolve))
    expect(cluster.calls.filter((call) => /^(take will|release) c/.test(call))).toEqual(['take will c@1', 'release c'])
    expect(watch.link.take().map((r) => r.payload)).toEqual(['gone'])
    expect((await w.storage.open()).sessions).toEqual([])
    // Without a will it is not stored; on a single node (no takeWill) neither is one with a will.
    await connect(w, 'plain')
    const single = await createWorld()
    await connect(single, 'c', { will: { message: message(single.clock, 'will/c', 'gone', 1), delayInterval: 0 } })
    expect([(await w.storage.open()).sessions, (await single.storage.open()).sessions]).toEqual([[], []])
  })
})

describe('ownershipLost', () => {
  it('stops serving the sessions at once: session_taken_over, no delivery, no will, no release, stored state kept and returned', async () => {
    const cluster = new RecordingCluster()
    const { w, watch, c } = await withWill(cluster)
    c.subscribe('t', 1)
    const pub = await connect(w, 'p')
    pub.publish('t', 'unacknowledged', 1)
    expect(c.link.take().map((r) => r.payload)).toEqual(['unacknowledged'])
    const kept = cluster.inbound?.ownershipLost(['c', 'unknown', 'p'])
    expect(c.link.closed).toBe(Refusal.SessionTakenOver)
    // What Storage keeps of the persistent one, for the cluster to hand on to its next owner.
    expect(kept).toEqual([expect.objectContaining({ session: expect.objectContaining({ clientId: 'c' }), offlineCount: 0 })])
    expect(kept?.[0]?.subscriptions.map((sub) => sub.filter)).toEqual(['t'])
    expect(kept?.[0]?.inflight.map((r) => r.message.payload.toString())).toEqual(['unacknowledged'])
    // Its will is not published here, but kept with the stored form (a hold may bring it back).
    expect(kept?.[0]?.session.will?.message.topic).toBe('will/c')
    pub.publish('t', 'after', 1)
    expect(c.link.received).toEqual([])
    expect(c.publish('t', 'stale').reason).toBe(Refusal.SessionTakenOver)
    w.clock.t += 3_600_000
    w.broker.tick(w.clock.t)
    expect(watch.link.received).toEqual([])
    expect(w.broker.session('c')).toBeUndefined()
    expect(cluster.calls).not.toContain('release c')
    expect(cluster.calls).toContain('remove t')
    expect((await w.storage.open()).sessions.map((s) => s.session.clientId)).toEqual(['c'])
  })
})

describe('holdSession', () => {
  it('holds what was kept when the lease was lost as an offline session again: its queue, its routes, new publishes queued, no will; handed over by a surrender', async () => {
    const cluster = new RecordingCluster()
    const { w, watch, c } = await withWill(cluster, { delayInterval: 5 })
    c.subscribe('t', 2)
    c.disconnect(true)
    const pub = await connect(w, 'p')
    pub.publish('t', 'before', 1)
    const [kept] = cluster.inbound?.ownershipLost(['c']) ?? []
    expect(kept?.offlineCount).toBe(1)
    expect(kept?.session.will).toBeDefined()
    expect(cluster.inbound?.holdSession(9, { stored: kept as NonNullable<typeof kept>, willHandled: true })).toBe(true)
    // Held already: a second hold is refused.
    expect(cluster.inbound?.holdSession(10, { stored: kept as NonNullable<typeof kept>, willHandled: true })).toBe(false)
    expect(cluster.calls.filter((call) => call === 'add t')).toHaveLength(2)
    pub.publish('t', 'after', 2)
    expect(w.broker.session('c')).toMatchObject({ connected: false, queued: 2, willPending: false })
    expect((await w.storage.open()).sessions.find((s) => s.session.clientId === 'c')?.session.epoch).toBe(9)
    const t = await cluster.inbound?.surrenderSession('c', 11)
    expect(t?.offline.map((m) => m.payload.toString())).toEqual(['before', 'after'])
    expect(t?.takeoverWill).toBeUndefined()
    // No will of its own: not even when its delay passes.
    w.clock.t += 10_000
    w.broker.tick(w.clock.t)
    expect(watch.link.received).toEqual([])
  })

  it('holds the stored will too when the cluster says it is still this node’s: due after its delay, once', async () => {
    const cluster = new RecordingCluster()
    const { w, watch, c } = await withWill(cluster, { delayInterval: 5 })
    c.disconnect(true)
    const [kept] = cluster.inbound?.ownershipLost(['c']) ?? []
    expect(cluster.inbound?.holdSession(9, { stored: kept as NonNullable<typeof kept>, willHandled: false })).toBe(true)
    expect(w.broker.session('c')).toMatchObject({ connected: false, willPending: true })
    w.clock.t += 6_000
    w.broker.tick(w.clock.t)
    await new Promise((resolve) => setImmediate(resolve))
    expect(watch.link.take().map((r) => r.payload)).toEqual(['gone'])
    expect(cluster.calls).toContain('take will c@9')
    w.clock.t += 10_000
    w.broker.tick(w.clock.t)
    expect(watch.link.take()).toEqual([])
  })

  it('holds a dead node\'s session from what etcd saved (adoption): routed, queued, expired after its interval and released', async () => {
    const cluster = new RecordingCluster()
    const w = await createWorld({}, { cluster })
    const transferred = {
      session: { clientId: 'orphan', protocol: 'mqtt5' as const, expiryInterval: 60, disconnectedAt: w.clock.t, epoch: 3 },
      subscriptions: [{ filter: 'o/#', qos: 1 as const, noLocal: false, retainAsPublished: false, retainHandling: 0 as const }],
      inflight: [],
      incomingQos2: [],
      offline: [],
    }
    expect(cluster.inbound?.holdSession(7, { transferred })).toBe(true)
    expect(cluster.calls).toContain('add o/#')
    const pub = await connect(w, 'p')
    pub.publish('o/1', 'queued', 1)
    const stored = (await w.storage.open()).sessions.find((s) => s.session.clientId === 'orphan')
    expect(stored?.session.epoch).toBe(7)
    expect(stored?.offlineCount).toBe(1)
    w.clock.t += 61_000
    w.broker.tick(w.clock.t)
    expect(w.broker.session('orphan')).toBeUndefined()
    expect(cluster.calls).toContain('release orphan')
    expect(cluster.calls).toContain('remove o/#')
  })
})
