import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import type { IDisconnectPacket, MqttClient } from 'mqtt'
import { closeClient, metricValue, openClient, setArgs, withTimeout, type OpenedClient } from '@fluxmq/testing'
import { eventually, routeVisible, startCluster, type ClusterNodeProcess } from './support/cluster.js'
import { FLUXMQ_BIN, type Scene, sceneForTests } from './support/fluxmq.js'
import { startNetnsCluster } from './support/netns.js'

const run = promisify(execFile)

// Faults between real fluxmq processes, each with its embedded etcd member. The stuck peer is a
// real SIGSTOP of one broker process on loopback (its etcd member keeps running); the partition
// cuts one node's link in network namespaces (support/netns.ts). No fault-injecting transport.

async function residentBytes(node: ClusterNodeProcess): Promise<number> {
  const text = await (await fetch(`${node.httpUrl}/metrics`, { signal: AbortSignal.timeout(5_000) })).text()
  const rss = metricValue(text, 'process_resident_memory_bytes')
  if (rss === undefined) throw new Error(`${node.nodeId} reports no process_resident_memory_bytes`)
  return rss
}

/** Milliseconds `count` QoS 1 publishes take, one after the other (each waits for its PUBACK). */
async function timedPublishes(publisher: MqttClient, prefix: string, count: number): Promise<number> {
  const started = performance.now()
  for (let i = 0; i < count; i++) await publisher.publishAsync(`${prefix}/${i}`, `m-${i}`, { qos: 1 })
  return performance.now() - started
}

/** A publisher on `node`, connecting again while the node refuses new sessions (its lease being renewed). */
async function publisherOn(scene: Scene, node: { readonly nodeId: string; readonly mqttUrl: string }, clientId: string): Promise<OpenedClient> {
  let opened: OpenedClient | undefined
  await eventually(
    `a publisher served by ${node.nodeId}`,
    async () => {
      opened = await openClient(node.mqttUrl, { protocolVersion: 5, clientId, connectTimeout: 3_000 })
      return true
    },
    15_000,
  )
  if (opened === undefined) throw new Error(`no publisher on ${node.nodeId}`)
  const client = opened.client
  scene.cleanup.defer(() => client.endAsync(true))
  return opened
}

describe('a stuck peer (SIGSTOP of one broker process)', () => {
  const scene = sceneForTests()

  it('leaves the other nodes serving their own clients at full speed with bounded memory; forwarding resumes after SIGCONT', async () => {
    // A lease that outlives the stop: this is a stuck process, not a dead node.
    const [n1, n2, n3] = (await startCluster(scene, 3, setArgs({ 'cluster.etcd.lease_ttl': '60s' }))) as [ClusterNodeProcess, ClusterNodeProcess, ClusterNodeProcess]
    const own = await scene.client(n2.mqttUrl, { protocolVersion: 5, clientId: 'stuck-own' })
    await own.client.subscribeAsync('own/#', { qos: 1 })
    const far = await scene.client(n3.mqttUrl, { protocolVersion: 5, clientId: 'stuck-far', clean: false, properties: { sessionExpiryInterval: 300 } })
    await far.client.subscribeAsync('far/#', { qos: 1 })
    const publisher = await scene.client(n1.mqttUrl, { protocolVersion: 5, clientId: 'stuck-pub' })
    const flooder = await scene.client(n1.mqttUrl, { protocolVersion: 5, clientId: 'stuck-flood' })
    await routeVisible(own, publisher.client, 'own/probe')
    await routeVisible(far, publisher.client, 'far/probe')

    const baselineMs = await timedPublishes(publisher.client, 'own/before', 300)
    const rssBefore = await residentBytes(n1)

    n3.process.signal('SIGSTOP')
    scene.cleanup.defer(() => n3.process.signal('SIGCONT'))
    // QoS 1 to the stuck node: each waits for n3 (or fails when n1's breaker to it opens).
    const stuck = Promise.allSettled(Array.from({ length: 50 }, (_, i) => flooder.client.publishAsync(`far/q1/${i}`, `far-${i}`, { qos: 1 })))
    // And 120 MiB at QoS 0 for it: n1 must not hold it all.
    const payload = Buffer.alloc(2048, 'x')
    for (let i = 0; i < 60_000; i++) flooder.client.publish('far/flood', payload, { qos: 0 })

    const stuckMs = await timedPublishes(publisher.client, 'own/during', 300)
    await eventually('600 messages at the subscriber on n2', () => own.inbox.messages.filter((m) => m.topic.startsWith('own/before/') || m.topic.startsWith('own/during/')).length === 600, 20_000)
    const rssDuring = await residentBytes(n1)
    const cluster = (await (await fetch(`${n1.httpUrl}/api/v1/cluster`)).json()) as { peers: { peer: string; pendingBytes: number }[] }
    const toStuck = cluster.peers.find((p) => p.peer === 'n3')
    console.log(`stuck peer: 300 QoS 1 publishes n1→n2 took ${Math.round(baselineMs)} ms before, ${Math.round(stuckMs)} ms with n3 stopped; n1 RSS ${Math.round(rssBefore / 2 ** 20)} → ${Math.round(rssDuring / 2 ** 20)} MiB; to n3: ${JSON.stringify(toStuck)}`)
    // Full speed on a shared, loaded box (n1 also parses the flood meanwhile): within a few times
    // the baseline, not waiting for n3.
    expect(stuckMs).toBeLessThan(Math.max(5 * baselineMs, baselineMs + 5_000))
    // Bounded: what waits for n3 stays within the peer's 16 MiB bound (QoS 0 beyond it is dropped).
    // RSS is the coarse cross-check: the flood's parsing garbage, not yet collected, alone grows n1
    // by 80 to 130 MiB on a loaded box, and holding the 120 MiB for n3 on top of it would pass 240.
    expect(toStuck?.pendingBytes).toBeLessThanOrEqual(16 * 2 ** 20)
    expect(rssDuring - rssBefore).toBeLessThan(200 * 2 ** 20)

    n3.process.signal('SIGCONT')
    const settled = await stuck
    // Every QoS 1 publish n1 acknowledged as accepted reached the subscriber on n3.
    const accepted = settled.flatMap((s, i) => (s.status === 'fulfilled' ? [`far-${i}`] : []))
    await eventually(
      'the accepted QoS 1 messages on n3',
      () => accepted.every((p) => far.inbox.messages.some((m) => m.payload.toString() === p)),
      30_000,
    )
    // Forwarding resumes: a new publish reaches n3 once n1's breaker closed again.
    await eventually(
      'a publish after SIGCONT on n3',
      async () => {
        if (far.inbox.messages.some((m) => m.topic === 'far/after')) return true
        await publisher.client.publishAsync('far/after', 'after', { qos: 1 }).catch(() => undefined)
        return false
      },
      30_000,
    )
    for (const c of [own, far, publisher, flooder]) await closeClient(c.client)
  }, 180_000)
})

describe('a partition (network namespaces: one node cut off from the other nodes and from etcd)', () => {
  const scene = sceneForTests()

  it('the cut-off node stops serving before the majority takes its client over, and rejoins by itself after healing', async () => {
    const [n1, n2] = await startNetnsCluster(scene, 3)
    if (n1 === undefined || n2 === undefined) throw new Error('three nodes expected')
    const persistent = { protocolVersion: 5, clientId: 'part-c', clean: false, properties: { sessionExpiryInterval: 300 } } as const
    const publisher = await scene.client(n2.mqttUrl, { protocolVersion: 5, clientId: 'part-pub' })
    const onN1 = await scene.client(n1.mqttUrl, persistent)
    await onN1.client.subscribeAsync('part/#', { qos: 1 })
    await routeVisible(onN1, publisher.client, 'part/probe')
    const closedByN1 = new Promise<number>((resolve) => onN1.client.once('close', () => resolve(Date.now())))
    const told = new Promise<IDisconnectPacket>((resolve) => onN1.client.once('disconnect', resolve))

    const isolatedAt = Date.now()
    n1.isolate()
    // n1 cannot prove its lease alive: it stops serving its session (within the 5 s lease TTL).
    const closedAt = await closedByN1
    console.log(`partition: n1 dropped its client ${closedAt - isolatedAt} ms after the cut (reason 0x${((await told).reasonCode ?? 0).toString(16)})`)
    expect(closedAt - isolatedAt).toBeLessThan(15_000)
    const { stdout } = await run(process.execPath, [FLUXMQ_BIN, 'ctl', '--url', n1.httpUrl, 'cluster'])
    expect(stdout).toContain('this node holds no lease')

    // The majority takes the client over once n1's lease expired in etcd: never before n1 let go.
    let onN2: OpenedClient | undefined
    await eventually(
      'the client served by n2',
      async () => {
        onN2 = await openClient(n2.mqttUrl, { ...persistent, connectTimeout: 3_000 })
        return true
      },
      // While n1 is still registered, n2 asks it for the session's state and gives up as soon as
      // its breaker opens or its registration vanishes with its lease: within about one TTL.
      30_000,
    )
    if (onN2 === undefined) throw new Error('not connected to n2')
    scene.cleanup.defer(() => onN2?.client.endAsync(true))
    const servedAt = Date.now()
    console.log(`partition: n2 served the client ${servedAt - isolatedAt} ms after the cut`)
    expect(servedAt).toBeGreaterThan(closedAt)
    // n1's state is out of reach: the session resumes with the subscriptions etcd saved.
    expect(onN2.connack.sessionPresent).toBe(true)
    // A publisher connected before the cut may have been dropped by n2 meanwhile: when n1's etcd
    // member was raft leader, n2's keepalives go unanswered until the others elect one, and a
    // node that cannot prove its lease stops serving (0x8E). Clients reconnect, as this one does.
    const majorityPub = await publisherOn(scene, n2, 'part-pub-2')
    await withTimeout(majorityPub.client.publishAsync('part/majority', 'majority', { qos: 1 }), 10_000, 'PUBACK from n2')
    await eventually('a publish on the majority side', () => onN2?.inbox.messages.some((m) => m.topic === 'part/majority') === true, 10_000)
    // n1 serves no new session while it is cut off.
    await expect(openClient(n1.mqttUrl, { protocolVersion: 5, clientId: 'part-late', connectTimeout: 3_000 })).rejects.toThrow()

    n1.heal()
    // It rejoins by itself: lease granted again, registered, seen by the others, ready.
    await eventually(
      'n1 back in the cluster',
      async () => {
        const own = (await (await fetch(`${n1.httpUrl}/api/v1/cluster`, { signal: AbortSignal.timeout(2_000) })).json()) as { leaseHeld: boolean }
        const seen = (await (await fetch(`${n2.httpUrl}/api/v1/cluster`, { signal: AbortSignal.timeout(2_000) })).json()) as { nodes: string[] }
        const ready = (await fetch(`${n1.httpUrl}/ready`, { signal: AbortSignal.timeout(2_000) })).status === 200
        return own.leaseHeld && seen.nodes.includes('n1') && ready
      },
      60_000,
    )
    // A normal member again: the client moves back to n1 with its session.
    const back = await scene.client(n1.mqttUrl, persistent)
    expect(back.connack.sessionPresent).toBe(true)
    // Healing disturbs etcd again (n1's member rejoins the raft group): n2 may have dropped its
    // clients once more, so the check publishes from a fresh connection.
    const healedPub = await publisherOn(scene, n2, 'part-pub-3')
    await routeVisible(back, healedPub.client, 'part/back')
    for (const c of [healedPub, back]) await closeClient(c.client)
  }, 240_000)

  it.each([
    ['its lease expires in etcd (cut off 5 s and more)', 5, false],
    ['it heals before its lease expires in etcd (it answers the takeover: lost, routed up to here)', 10, true],
  ])('what the cut-off node forwarded before it lost its lease is not delivered again where its session went: %s', async (_, ttlSeconds, healAtLoss) => {
    const [n1, n2] = await startNetnsCluster(scene, 3, setArgs({ 'cluster.etcd.lease_ttl': `${ttlSeconds}s` }))
    if (n1 === undefined || n2 === undefined) throw new Error('three nodes expected')
    const persistent = { protocolVersion: 5, clientId: 'stale-sub', clean: false, properties: { sessionExpiryInterval: 300 } } as const
    const sub = await scene.client(n1.mqttUrl, persistent)
    await sub.client.subscribeAsync('stale/#', { qos: 2 })
    // Another subscriber on n2: n1 forwards every publish there.
    const other = await scene.client(n2.mqttUrl, { protocolVersion: 5, clientId: 'stale-other' })
    await other.client.subscribeAsync('stale/#', { qos: 2 })
    const publisher = await scene.client(n1.mqttUrl, { protocolVersion: 5, clientId: 'stale-pub' })
    await routeVisible(sub, publisher.client, 'stale/probe-1')
    await routeVisible(other, publisher.client, 'stale/probe-2')
    const subClosed = new Promise<void>((resolve) => sub.client.once('close', () => resolve()))

    n1.isolate()
    // n1 delivers it to its own subscriber at once; the forward to n2 waits behind the cut, so the
    // publisher gets no PUBREC.
    let acknowledged = false
    publisher.client.publishAsync('stale/m', 'once', { qos: 2 }).then(
      () => (acknowledged = true),
      () => undefined,
    )
    await eventually('the publish delivered on n1', () => sub.inbox.messages.some((m) => m.topic === 'stale/m'), 5_000)
    // n1 loses its lease and drops its clients; the subscriber resumes on n2 from etcd.
    await withTimeout(subClosed, 15_000, 'n1 dropping its subscriber')
    let moved: OpenedClient | undefined
    const served = eventually(
      'the subscriber served by n2',
      async () => {
        moved = await openClient(n2.mqttUrl, { ...persistent, connectTimeout: 3_000 })
        return true
      },
      30_000,
    )
    if (healAtLoss) {
      // n1 gave its lease up a fifth of the TTL before etcd may expire it. Healed while the
      // subscriber's claim on n2 asks n1 for the session, n1's lease still alive in etcd: n1
      // answers that it lost it, and up to where it had routed.
      await n2.process.waitForLog((line) => line.msg === 'session claimed' && line['clientId'] === 'stale-sub', 10_000)
      n1.heal()
    }
    await served
    if (moved === undefined) throw new Error('not connected to n2')
    const onN2 = moved
    scene.cleanup.defer(() => onN2.client.endAsync(true))
    expect(onN2.connack.sessionPresent).toBe(true)

    if (!healAtLoss) n1.heal()
    // n1 resends the batch it kept through the cut once its stream is back. n2 must not apply it:
    // n1 routed it while it held the session, which had the publish from n1 itself.
    const refused = n2.process.waitForLog((line) => /routed under a lease its sender lost/.test(line.msg), 60_000)
    const appliedOnN2 = eventually('the old batch applied on n2', () => other.inbox.messages.some((m) => m.topic === 'stale/m'), 60_000)
    const outcome = await Promise.race([refused.then(() => 'refused'), appliedOnN2.then(() => 'applied')])
    // Lease expired: refused by its ended registration. Healed before: n2 may have applied the
    // batch while it still asked n1 for the session (held for it, dropped once n1 said it lost it).
    if (!healAtLoss) expect(outcome, 'n2 refused the batch n1 routed under its ended registration').toBe('refused')
    await sleep(1_000)
    const copies = [...sub.inbox.messages, ...onN2.inbox.messages].filter((m) => m.topic === 'stale/m').length
    expect(copies, 'the QoS 2 publish reached the subscriber once').toBe(1)
    expect(acknowledged, 'the publisher got no PUBCOMP').toBe(false)
  }, 240_000)
})
