import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MemoryStorage, type ClusterInbound, type HeldState, type Message, type Storage, type StoredSession, type TransferredSession } from '@fluxmq/core'
import { Cleanup, freePorts, until } from '@fluxmq/testing'
import { NodeLease, SessionOwnership, SubscriptionStore, WillIndex, connectEtcd, keyspace } from '@fluxmq/cluster-etcd'
import { ClusterNode, type ClusterNodeOptions } from './cluster-node.js'
import type { EtcdCluster } from './etcd-cluster.js'
import { sharedMemberEtcd } from './test-support/etcd.js'
import { silent } from './test-support/silent.js'

/** The local broker's side as the cluster sees it: records what peers hand it. */
class RecordingInbound implements ClusterInbound {
  readonly delivered: Message[] = []
  readonly surrendered: { clientId: string; epoch: number }[] = []
  readonly lost: string[] = []
  /** Relays for one client (`deliverTo`), as client id and topic. */
  readonly relayed: string[] = []
  session: TransferredSession | undefined
  /** What the next `ownershipLost` says this node kept in storage. */
  keptOnLoss: StoredSession[] = []
  /** The next surrender fails with this error (once). */
  failNext: Error | undefined
  /** Surrenders answer once this settles (a slow old owner). */
  gate: Promise<void> | undefined
  /** Sessions held here offline (`holdSession`): client id, epoch, where the state came from, its filters. */
  readonly held: { clientId: string; epoch: number; from: 'storage' | 'etcd'; filters: string[]; willHandled?: boolean }[] = []
  /** The node's cluster: the routes of sessions dropped and held follow them, as the core's do. */
  cluster: EtcdCluster | undefined
  /** The node's (mirrored) storage: a hold rewrites the record under its claim, as the core's does. */
  storage: Storage | undefined

  deliverLocal(message: Message): void {
    this.delivered.push(message)
  }

  deliverTo(clientId: string, message: Message): boolean {
    this.relayed.push(`${clientId} ${message.topic}`)
    return true
  }

  /** No session here matches: these tests send no unattended publish. */
  deliverAmong(): string[] {
    return []
  }

  surrenderSession(clientId: string, epoch: number): Promise<TransferredSession | undefined> {
    this.surrendered.push({ clientId, epoch })
    const failure = this.failNext
    this.failNext = undefined
    const answered = (this.gate ?? Promise.resolve()).then(() => this.session)
    return failure === undefined ? answered : Promise.reject(failure)
  }

  ownershipLost(clientIds: readonly string[]): StoredSession[] {
    this.lost.push(...clientIds)
    const kept = this.keptOnLoss.splice(0)
    for (const stored of kept) for (const { filter } of stored.subscriptions) this.cluster?.removeRoute(filter)
    return kept
  }

  holdSession(epoch: number, state: HeldState): boolean {
    const from = 'stored' in state ? 'storage' : 'etcd'
    const { session, subscriptions } = 'stored' in state ? state.stored : state.transferred
    const filters = subscriptions.map((s) => s.filter)
    this.held.push({ clientId: session.clientId, epoch, from, filters, ...('stored' in state ? { willHandled: state.willHandled } : {}) })
    for (const filter of filters) this.cluster?.addRoute(filter)
    this.storage?.putSession({ ...session, epoch, disconnectedAt: Date.now() })
    return true
  }
}

function message(topic: string, retain = false): Message {
  return { topic, payload: Buffer.from(`to ${topic}`), qos: 1, retain, properties: {}, publishedAt: Date.now() }
}


// Two nodes on one real etcd member (node a embeds it, node b is its client) and real transport servers.
const cleanup = new Cleanup()
let a: ClusterNode
let b: ClusterNode
const inboundA = new RecordingInbound()
const inboundB = new RecordingInbound()
const syncs = { a: 0, b: 0, c: 0, d: 0 }
let etcdClientPort = 0
let options: (nodeId: 'a' | 'b' | 'c' | 'd', embedded: boolean) => ClusterNodeOptions

beforeAll(async () => {
  const [client, peer] = (await freePorts(2)) as [number, number]
  etcdClientPort = client
  const base = cleanup.tempDir('fluxmq-cluster-')
  options = (nodeId: 'a' | 'b' | 'c' | 'd', embedded: boolean): ClusterNodeOptions => ({
    nodeId,
    clusterName: 'test',
    version: '0.0.0',
    clientAddrs: {},
    logger: silent,
    etcd: sharedMemberEtcd({ client, peer }, join(base, 'etcd'), embedded, 16),
    transport: { host: '127.0.0.1', port: 0, advertiseAddr: '', tls: undefined },
    sync: () => {
      syncs[nodeId] += 1
      return Promise.resolve()
    },
  })
  a = await ClusterNode.start(options('a', true))
  cleanup.defer(() => a.leave())
  b = await ClusterNode.start(options('b', false))
  cleanup.defer(() => b.leave())
  a.cluster.attach(inboundA)
  b.cluster.attach(inboundB)
  inboundA.cluster = a.cluster
  inboundB.cluster = b.cluster
  await Promise.all([a.join({ loadRetained: false }), b.join({ loadRetained: false })])
  await until(() => a.report().peers.length === 1 && b.report().peers.length === 1, 'both nodes to see each other')
}, 60_000)

afterAll(() => cleanup.run(), 60_000)

describe('ClusterNode (real etcd, real transport)', () => {
  it('forwards a publish to the node whose route matches, once, after that node synced its storage', async () => {
    expect(a.cluster.forward(message('f/1'))).toBeUndefined()
    b.cluster.addRoute('f/+')
    b.cluster.addRoute('$share/g/f/#')
    await until(() => a.cluster.forward(message('f/probe')) !== undefined, 'the route on node a')
    const syncsBefore = syncs.b
    await a.cluster.forward(message('f/1'))
    expect(inboundB.delivered.filter((m) => m.topic === 'f/1')).toHaveLength(1)
    expect(inboundB.delivered.find((m) => m.topic === 'f/1')?.payload.toString()).toBe('to f/1')
    expect(syncs.b).toBeGreaterThan(syncsBefore)
    // Only the shared route matches here: its group still needs the message on node b.
    await a.cluster.forward(message('f/1/2'))
    expect(inboundB.delivered.some((m) => m.topic === 'f/1/2')).toBe(true)
    // Nothing goes back to the sender, and the receiver never forwards again (it has no route to a).
    expect(inboundA.delivered).toHaveLength(0)
    b.cluster.removeRoute('f/+')
    b.cluster.removeRoute('$share/g/f/#')
    await until(() => a.cluster.forward(message('f/probe')) === undefined, 'the route gone from node a')
  })

  it('sends a retained message to every other node, with or without a route, and gives them all to a node that joins later', async () => {
    await a.cluster.forward(message('r/kept', true))
    expect(inboundB.delivered.some((m) => m.topic === 'r/kept' && m.retain)).toBe(true)
    // Above the 16-byte threshold: etcd keeps an index entry, node a the payload.
    const big = { ...message('r/big', true), payload: Buffer.alloc(100, 1) }
    await a.cluster.forward(big)
    await b.cluster.forward({ ...message('r/gone', true) })
    await b.cluster.forward({ ...message('r/gone', true), payload: Buffer.alloc(0) })

    const c = await ClusterNode.start(options('c', false))
    cleanup.defer(() => c.leave())
    const inboundC = new RecordingInbound()
    c.cluster.attach(inboundC)
    await c.join({ loadRetained: true })
    const loaded = new Map(inboundC.delivered.map((m) => [m.topic, m]))
    expect(loaded.get('r/kept')?.payload.toString()).toBe('to r/kept')
    expect(loaded.get('r/big')?.payload.equals(big.payload)).toBe(true)
    expect(loaded.has('r/gone')).toBe(false)
  })

  it('takes a session over from its owner node with a newer epoch and brings its state', async () => {
    const first = await a.cluster.acquireSession('c1')
    expect(first.transferred).toBeUndefined()
    const state: TransferredSession = {
      session: { clientId: 'c1', protocol: 'mqtt5', expiryInterval: 300, epoch: first.epoch },
      subscriptions: [{ filter: 'c/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
      inflight: [],
      incomingQos2: [],
      offline: [message('c/queued')],
    }
    inboundA.session = state
    const second = await b.cluster.acquireSession('c1')
    expect(second.epoch).toBeGreaterThan(first.epoch)
    expect(inboundA.surrendered).toEqual([{ clientId: 'c1', epoch: second.epoch }])
    expect(second.transferred?.subscriptions).toEqual(state.subscriptions)
    expect(second.transferred?.offline.map((m) => m.topic)).toEqual(['c/queued'])
    // Reconnecting on the same node claims again without asking anyone.
    const third = await b.cluster.acquireSession('c1')
    expect(third.epoch).toBeGreaterThan(second.epoch)
    expect(third.transferred).toBeUndefined()
    expect(inboundA.surrendered).toHaveLength(1)
  })

  it('asks the old owner again on the next claim after a takeover failed, under a newer epoch', async () => {
    const first = await a.cluster.acquireSession('c2')
    inboundA.session = {
      session: { clientId: 'c2', protocol: 'mqtt5', expiryInterval: 300, epoch: first.epoch },
      subscriptions: [],
      inflight: [],
      incomingQos2: [],
      offline: [message('c2/queued')],
    }
    inboundA.surrendered.length = 0
    inboundA.failNext = Object.assign(new Error('disk busy'), { code: 'FLUXMQ_ERR_TEST' })
    await expect(b.cluster.acquireSession('c2')).rejects.toThrow()
    // The claim moved to b, so b is now the "previous owner"; the state is still on a.
    const retried = await b.cluster.acquireSession('c2')
    expect(retried.transferred?.offline.map((m) => m.topic)).toEqual(['c2/queued'])
    expect(inboundA.surrendered.map((s) => s.epoch)).toEqual([expect.any(Number), retried.epoch])
    expect(inboundA.surrendered[0]!.epoch).toBeLessThan(retried.epoch)
  })

  it('resumes from what etcd saved when the old owner answers the takeover without the session (it stopped serving it on a lease loss etcd never saw)', async () => {
    const first = await a.cluster.acquireSession('c3')
    const subscriptions = [{ filter: 'c3/#', qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 0 }]
    const etcd = connectEtcd('test', { endpoints: [`127.0.0.1:${etcdClientPort}`] })
    cleanup.defer(() => etcd.close())
    // What node a's session mirror saved while it served the session.
    await etcd.namespace
      .put(keyspace.subsKey('c3'))
      .value(JSON.stringify({ node: 'a', epoch: first.epoch, protocol: 'mqtt5', expiryInterval: 300, subscriptions }))
    inboundA.session = undefined
    inboundA.surrendered.length = 0
    // Node b routes c3's topic already (another subscriber there): a publish it routes while it waits for a's answer is held for c3.
    b.cluster.addRoute('c3/#')
    await until(() => a.cluster.forward(message('c3/probe')) !== undefined, 'node a to see b\'s route')
    let open!: () => void
    inboundA.gate = new Promise<void>((resolve) => (open = resolve))
    const claiming = b.cluster.acquireSession('c3')
    await until(() => inboundA.surrendered.length === 1, 'the surrender request on node a')
    // Not awaited: node a, surrendering, accepts it only once the surrender is answered.
    const during = a.cluster.forward(message('c3/during'))
    await until(() => inboundB.delivered.some((m) => m.topic === 'c3/during'), 'the publish at node b')
    open()
    await during
    const second = await claiming
    inboundA.gate = undefined
    b.cluster.removeRoute('c3/#')
    expect(inboundA.surrendered).toEqual([{ clientId: 'c3', epoch: second.epoch }])
    expect(second.transferred?.subscriptions).toEqual(subscriptions)
    expect(second.transferred?.session).toMatchObject({ clientId: 'c3', expiryInterval: 300, epoch: first.epoch })
    // Acknowledged to its publisher and held nowhere else: offered to the resumed session.
    expect(second.held?.().map((m) => m.topic)).toEqual(['c3/during'])
  })

  it('claims stored sessions nobody else owns, and leaves those another node owns; a stored will stays only if etcd still holds it as written', async () => {
    await a.cluster.acquireSession('owned-by-a')
    // Before it went down node b wrote the wills of two stored sessions under epoch 1; while it
    // was down the leader took the one of 'fired' (published it). 'unmirrored' is still owned by
    // b's lease (b died within it) and its will never reached etcd: nobody can have taken it.
    const unmirrored = await b.cluster.acquireSession('unmirrored')
    const etcd = connectEtcd('test', { endpoints: [`127.0.0.1:${etcdClientPort}`] })
    cleanup.defer(() => etcd.close())
    const willsOf = (nodeId: string): WillIndex => new WillIndex(etcd.namespace, { nodeId, logger: silent, thresholdBytes: 1024 })
    const will = { message: message('will/stored'), delayInterval: 0 }
    for (const clientId of ['kept', 'fired']) await willsOf('b').put(clientId, will, 1)
    expect(await willsOf('b').delete('fired', 1)).toBe(true)
    const owned = await b.cluster.claimStored([
      { clientId: 'owned-by-a', epoch: 1, will: false },
      { clientId: 'free', epoch: 1, will: false },
      { clientId: 'kept', epoch: 1, will: true },
      { clientId: 'fired', epoch: 1, will: true },
      { clientId: 'unmirrored', epoch: unmirrored.epoch, will: true },
    ])
    const handled = Object.fromEntries([...owned].map(([clientId, ownership]) => [clientId, ownership.willHandled]))
    expect(handled).toEqual({ free: false, kept: false, fired: true, unmirrored: false })
  })

  it('[MQTT-4.8.2] names exactly one node per message for a shared group with members on both nodes', async () => {
    const filter = '$share/g/s/+'
    a.cluster.addRoute(filter)
    b.cluster.addRoute(filter)
    await until(() => a.cluster.forward(message('s/probe')) !== undefined && b.cluster.forward(message('s/probe')) !== undefined, 'both views to hold both routes')
    const served = { a: 0, b: 0 }
    for (let i = 0; i < 64; i++) {
      const m = { ...message(`s/${i}`), publisherId: 'p', publishedAt: 1_000 + i }
      const onA = a.cluster.servesShared(filter, m)
      expect(onA).not.toBe(b.cluster.servesShared(filter, m))
      served[onA ? 'a' : 'b'] += 1
    }
    expect(served.a).toBeGreaterThan(0)
    expect(served.b).toBeGreaterThan(0)
    // $SYS is per node: each node serves its own members.
    expect(a.cluster.servesShared(filter, message('$SYS/x')) && b.cluster.servesShared(filter, message('$SYS/x'))).toBe(true)
  })

  it('adopts the persistent sessions of a dead node once: claimed as adoptions (the will stays due) and held offline with what etcd saved; a session a client claimed is left to it', async () => {
    const etcd = connectEtcd('test', { endpoints: [`127.0.0.1:${etcdClientPort}`] })
    cleanup.defer(() => etcd.close())
    // The node that dies, with three saved sessions: one whose client comes back on node b first.
    const lease = new NodeLease(etcd.namespace, { nodeId: 'dead', ttlSeconds: 5, logger: silent })
    await lease.start()
    const ownership = new SessionOwnership(etcd.namespace, lease, { nodeId: 'dead', logger: silent })
    const store = new SubscriptionStore(etcd.namespace, ownership, 'dead')
    for (const clientId of ['orphan-1', 'orphan-2', 'orphan-back']) {
      const { epoch } = await ownership.claim(clientId)
      await store.save(clientId, epoch, { protocol: 'mqtt5', expiryInterval: 600, subscriptions: [{ filter: `${clientId}/#`, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }] })
    }
    await lease.stop()
    const back = await b.cluster.acquireSession('orphan-back')
    const isMember = (node: string): boolean => node === 'a' || node === 'b'
    // A client of orphan-2 connects to node b while node a adopts: the fenced claim picks one owner.
    const [pending, racing] = await Promise.all([
      a.cluster.adoptOrphans(['orphan-1', 'orphan-2', 'orphan-back'], isMember),
      b.cluster.acquireSession('orphan-2').then(
        (claim) => claim,
        (err: unknown) => err,
      ),
    ])
    expect(pending).toEqual([])
    const heldOnA = inboundA.held.filter((h) => h.clientId.startsWith('orphan-'))
    expect(heldOnA.map((h) => h.clientId)).toContain('orphan-1')
    expect(heldOnA.every((h) => h.from === 'etcd' && h.filters[0] === `${h.clientId}/#`)).toBe(true)
    const owners = await Promise.all(['orphan-1', 'orphan-2', 'orphan-back'].map(async (id) => (await etcd.namespace.get(keyspace.sessionKey(id)).json()) as { node: string; epoch: number }))
    const [one, two, returned] = owners
    expect(one?.node).toBe('a')
    expect(returned).toEqual({ node: 'b', epoch: back.epoch })
    expect(inboundA.held.some((h) => h.clientId === 'orphan-back')).toBe(false)
    // orphan-2: adopted then taken over by its client on b (which asked a), or claimed by b first and left alone.
    expect(two?.node).toBe('b')
    expect(racing).toMatchObject({ epoch: two?.epoch })
    // The adoption is marked with its epoch (the leader keeps the will due); a client's claim clears the mark.
    expect(await ownership.adoptedEpoch('orphan-1')).toBe(one?.epoch)
    expect(await ownership.adoptedEpoch('orphan-2')).toBeUndefined()
    // Adopting again (a second scan, another leader) changes nothing: the session has an owner.
    expect(await b.cluster.adoptOrphans(['orphan-1'], isMember)).toEqual([])
    expect(inboundB.held.some((h) => h.clientId === 'orphan-1')).toBe(false)
    expect(await etcd.namespace.get(keyspace.sessionKey('orphan-1')).json()).toEqual(one)
    // Its route is back, under node a's lease: a publish of node b for it reaches node a.
    await until(() => b.cluster.forward(message('orphan-1/x')) !== undefined, 'the adopted session\'s route on node b')
    await b.cluster.forward(message('orphan-1/y'))
    expect(inboundA.delivered.some((m) => m.topic === 'orphan-1/y')).toBe(true)
  })

  it('answers a takeover asked while it starts (its registration from before a restart still in etcd) once its core is attached, instead of refusing it', async () => {
    const d = await ClusterNode.start(options('d', false))
    const etcd = connectEtcd('test', { endpoints: [`127.0.0.1:${etcdClientPort}`] })
    // Node d's previous life: its registration, at the address it listens on again, and the session it owned.
    const previous = new NodeLease(etcd.namespace, { nodeId: 'd', ttlSeconds: 5, logger: silent })
    try {
      await previous.start()
      await etcd.namespace
        .put(keyspace.nodeKey('d'))
        .value(JSON.stringify({ nodeId: 'd', transportAddr: d.transportAddr, clientAddrs: {}, version: '0.0.0' }))
        .lease(previous.requireId())
        .exec()
      const { epoch } = await new SessionOwnership(etcd.namespace, previous, { nodeId: 'd', logger: silent }).claim('starting-1')
      await until(() => b.report().peers.some((p) => p.peer === 'd'), 'node b to see node d')
      const claiming = b.cluster.acquireSession('starting-1')
      await sleep(300)
      const inboundD = new RecordingInbound()
      inboundD.session = {
        session: { clientId: 'starting-1', protocol: 'mqtt5', expiryInterval: 300, epoch },
        subscriptions: [],
        inflight: [],
        incomingQos2: [],
        offline: [message('starting-1/queued')],
      }
      d.cluster.attach(inboundD)
      const claim = await claiming
      expect(claim.epoch).toBeGreaterThan(epoch)
      expect(inboundD.surrendered).toEqual([{ clientId: 'starting-1', epoch: claim.epoch }])
      expect(claim.transferred?.offline.map((m) => m.topic)).toEqual(['starting-1/queued'])
    } finally {
      // Gone before the next test: its registration with the revoked lease, its peer with it.
      await previous.stop()
      await d.leave()
      etcd.close()
      await until(() => !b.report().peers.some((p) => p.peer === 'd') && !a.report().peers.some((p) => p.peer === 'd'), 'nodes a and b to forget node d')
    }
  })

  // Last: it takes node b's lease away.
  it('reports every session owned here as lost when the node lease is lost, takes a new lease, holds again what nobody claimed (its route kept), and hands what it kept, and a late forward for it, to the sessions\' new owners', async () => {
    await b.cluster.acquireSession('lost-1')
    // Node b's storage still holds a message queued for lost-2, which node a claimed meanwhile.
    const storage = new MemoryStorage()
    await storage.open()
    inboundB.storage = b.cluster.mirrorSessions(storage)
    storage.putSession({ clientId: 'lost-2', protocol: 'mqtt5', expiryInterval: 600, epoch: 1 })
    storage.appendOffline('lost-2', message('lost-2/queued'))
    const will = { message: message('will/lost'), delayInterval: 600 }
    const kept = (clientId: string, offlineCount: number): StoredSession => ({
      session: { clientId, protocol: 'mqtt5', expiryInterval: 600, epoch: 1, will },
      subscriptions: [{ filter: `${clientId}/#`, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
      inflight: [],
      incomingQos2: [],
      releasedQos2: [],
      offlineCount,
    })
    // lost-3's client is still away when b gets a lease again (its route is b's, as the core added it).
    b.cluster.addRoute('lost-3/#')
    b.cluster.addRoute('lost-4/#')
    inboundB.keptOnLoss = [kept('lost-2', 1), kept('lost-3', 0), kept('lost-4', 0)]
    // lost-2's client connected to node a meanwhile.
    await a.cluster.acquireSession('lost-2')
    const etcd = connectEtcd('test', { endpoints: [`127.0.0.1:${etcdClientPort}`] })
    cleanup.defer(() => etcd.close())
    // lost-3's will is in etcd as b wrote it (not due for 10 minutes: no leader takes it); lost-4's is not (taken).
    await new WillIndex(etcd.namespace, { nodeId: 'b', logger: silent, thresholdBytes: 1024 }).put('lost-3', will, 1)
    const owner = await etcd.namespace.get(keyspace.sessionKey('lost-1')).exec()
    const leaseId = owner.kvs[0]?.lease
    expect(leaseId).toBeDefined()
    await etcd.client.leaseClient.leaseRevoke({ ID: leaseId as string })
    await until(() => inboundB.lost.includes('lost-1'), 'ownershipLost on node b', 15_000)
    expect(inboundA.lost).toEqual([])
    // The node goes on: once the lease is granted again, a claim works on it.
    const deadline = Date.now() + 15_000
    let again: Awaited<ReturnType<typeof b.cluster.acquireSession>> | undefined
    while (again === undefined) {
      again = await b.cluster.acquireSession('lost-1').catch((err: unknown) => {
        if (Date.now() > deadline) throw err
        return sleep(100).then(() => undefined)
      })
    }
    expect(again.transferred).toBeUndefined()
    // Nobody claimed lost-3: b holds it again from its storage, and its route is still b's.
    await until(() => inboundB.held.some((h) => h.clientId === 'lost-3'), 'lost-3 held again on node b', 15_000)
    expect(inboundB.held.find((h) => h.clientId === 'lost-3')).toMatchObject({ from: 'storage', filters: ['lost-3/#'], willHandled: false })
    await until(() => inboundB.held.some((h) => h.clientId === 'lost-4'), 'lost-4 held again on node b', 15_000)
    expect(inboundB.held.find((h) => h.clientId === 'lost-4')).toMatchObject({ from: 'storage', willHandled: true })
    // etcd's copy, rewritten under the new claim, keeps the subscriptions storage kept.
    const saved = async (): Promise<string | undefined> => (await etcd.namespace.get(keyspace.subsKey('lost-3')).exec()).kvs[0]?.value.toString()
    await until(async () => (await saved())?.includes(`"epoch":${String(inboundB.held.find((h) => h.clientId === 'lost-3')?.epoch)}`) === true, 'lost-3 saved again', 5_000)
    expect(JSON.parse((await saved()) as string)).toMatchObject({ subscriptions: [{ filter: 'lost-3/#' }] })
    expect(inboundB.held.some((h) => h.clientId === 'lost-2')).toBe(false)
    await a.cluster.forward(message('lost-3/after'))
    expect(inboundB.delivered.some((m) => m.topic === 'lost-3/after')).toBe(true)
    // The queued message went to lost-2's owner and left b's storage.
    await until(() => inboundA.relayed.includes('lost-2 lost-2/queued'), 'the relay on node a', 15_000)
    const dropBy = Date.now() + 5_000
    const storedIds = async (): Promise<string[]> => (await storage.open()).sessions.map((stored) => stored.session.clientId)
    while ((await storedIds()).includes('lost-2') && Date.now() < dropBy) await sleep(50)
    // lost-3 and lost-4 stay: they are held here.
    expect((await storedIds()).sort()).toEqual(['lost-3', 'lost-4'])
    // A forward a third node sent b for lost-2 while b could not be reached arrives now: b passes it on.
    // One c routed under an earlier registration (a count below the one it registered with now) is refused.
    await expect(b.cluster.handlers.publishBatch({ from: 'c', arrivals: 0, messages: [message('lost-2/stale')] })).rejects.toThrow(/STALE_ROUTING/)
    expect(inboundA.relayed.some((r) => r.includes('lost-2/stale'))).toBe(false)
    // Routed under c's current registration: its count is at least the one c registered with.
    await b.cluster.handlers.publishBatch({ from: 'c', arrivals: Number.MAX_SAFE_INTEGER, messages: [message('lost-2/late')] })
    expect(inboundA.relayed).toContain('lost-2 lost-2/late')
  })
})
