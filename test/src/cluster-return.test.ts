import { setTimeout as sleep } from 'node:timers/promises'
import { beforeAll, describe, expect, it } from 'vitest'
import type { IClientOptions, IPublishPacket, MqttClient } from 'mqtt'
import { closeClient, setArgs, withTimeout, type OpenedClient } from '@fluxmq/testing'
import { connectUntilServed, etcdValue, eventually, killNode, restartNode, routeVisible, startCluster, WILL_TRAIL, withLogTrail, type ClusterNodeProcess } from './support/cluster.js'
import { sceneForTests } from './support/fluxmq.js'

// A dead node returns with its data (issue 10, item 2): 3 real fluxmq processes on SQLite, each
// with its embedded etcd member (lease TTL 5 s). A SIGKILL of a broker stands for its machine
// dying, so its etcd member is SIGKILLed with it; the node then starts again on both data dirs.
const SIZE = 3
// Publishes started at once in the crash scenario: many more than get acknowledged before the kill.
const TOTAL = 5_000

function persistent(clientId: string): IClientOptions {
  return { protocolVersion: 5, clientId, clean: false, properties: { sessionExpiryInterval: 600 } }
}

function payloads(client: OpenedClient, prefix: string): Set<string> {
  return new Set(client.inbox.messages.filter((m) => m.topic.startsWith(prefix)).map((m) => m.payload.toString()))
}

function logLines(node: ClusterNodeProcess, msg: string): Record<string, unknown>[] {
  return node.process.lines.filter((line) => line.msg === msg)
}

describe('a dead node returns with its data (3 nodes, SQLite)', () => {
  const scene = sceneForTests()
  let nodes: ClusterNodeProcess[]

  it('hands what it had queued for a session now owned elsewhere to that owner, then drops its copy', async () => {
    // Queues long enough for every publish of the crash scenario: none is dropped by the overflow policy.
    nodes = await startCluster(scene, SIZE, setArgs({ 'storage.type': 'sqlite', 'session.max_offline_messages': 2 * TOTAL }))
    const [n1, n2] = nodes as [ClusterNodeProcess, ClusterNodeProcess]
    const sub = await scene.client(n1.mqttUrl, persistent('ret-sub'))
    await sub.client.subscribeAsync('ret/#', { qos: 1 })
    const publisher = await scene.client(n2.mqttUrl, { protocolVersion: 5, clientId: 'ret-pub' })
    await routeVisible(sub, publisher.client, 'ret/probe')
    await closeClient(sub.client)

    // Queued on n1 for its offline session: each PUBACK means n1 stored it (n2 waits for its sync).
    const sent = Array.from({ length: 40 }, (_, i) => `queued-${i}`)
    for (const [i, payload] of sent.entries()) await publisher.client.publishAsync(`ret/q/${i % 4}`, payload, { qos: 1 })

    const killedAt = Date.now()
    killNode(n1)
    // n1 is still registered (its lease lives 5 s) but refuses connections: the takeover gives up
    // on it at once and the session resumes on n2 from etcd, without what n1 queued.
    const moved = await connectUntilServed(scene, n2.mqttUrl, persistent('ret-sub'), 30_000)
    const servedMs = Date.now() - killedAt
    expect(moved.connack.sessionPresent).toBe(true)
    expect(payloads(moved, 'ret/q/').size).toBe(0)
    console.log(`return: the client was served by n2 ${servedMs} ms after n1 died`)

    const returnedAt = Date.now()
    const back = await restartNode(scene, n1, SIZE)
    nodes[0] = back
    await eventually('every message PUBACKed while n1 held the session, at the client on n2', () => payloads(moved, 'ret/q/').size === sent.length, 30_000)
    console.log(`return: n1's queued messages reached the client ${Date.now() - returnedAt} ms after n1 was started again`)
    expect([...payloads(moved, 'ret/q/')].sort()).toEqual([...sent].sort())
    // Logged once the owner's epoch was read again and the local copy deleted, after the delivery.
    const handedOn = 'queued messages of a returning session handed on to its owner'
    await eventually('n1 to log the hand-on', () => logLines(back, handedOn).length > 0, 10_000)
    expect(logLines(back, handedOn)).toEqual([expect.objectContaining({ clientId: 'ret-sub', owner: 'n2', messages: sent.length })])

    // n1's storage no longer holds them: started once more, it finds no stored session.
    killNode(back)
    const again = await restartNode(scene, back, SIZE)
    nodes[0] = again
    expect(logLines(again, 'stored sessions claimed')).toEqual([expect.objectContaining({ stored: 0 })])
    // And nothing is delivered twice to the client meanwhile.
    expect(moved.inbox.messages.filter((m) => m.topic.startsWith('ret/q/'))).toHaveLength(sent.length)
    for (const c of [moved, publisher]) await closeClient(c.client)
  }, 240_000)

  it('hands on what it had in flight with its packet id: the owner resends it with DUP, so the client recognises it', async () => {
    const [n1, n2] = nodes as [ClusterNodeProcess, ClusterNodeProcess]
    // The client never answers the QoS 2 delivery on held/q (mqtt.js then reads nothing more):
    // n1 keeps it in flight, unacknowledged.
    const sub = await scene.client(n1.mqttUrl, { ...persistent('ret-held'), customHandleAcks: (_topic, _payload, packet, done) => (packet.topic === 'held/q' ? undefined : done(0)) })
    // PUBLISH packets as they arrive (mqtt.js emits a QoS 2 message only at its PUBREL).
    const publishes = (client: MqttClient): IPublishPacket[] => {
      const seen: IPublishPacket[] = []
      client.on('packetreceive', (packet) => {
        if (packet.cmd === 'publish' && packet.topic === 'held/q') seen.push(packet)
      })
      return seen
    }
    const firstSeen = publishes(sub.client)
    await sub.client.subscribeAsync('held/#', { qos: 2 })
    const publisher = await scene.client(n2.mqttUrl, { protocolVersion: 5, clientId: 'held-pub' })
    await routeVisible(sub, publisher.client, 'held/probe')
    await publisher.client.publishAsync('held/q', 'held', { qos: 2 })
    await eventually('the delivery on n1', () => firstSeen.length === 1, 10_000)
    // Stored in flight on n1 (its sync comes before the PUBLISH goes out), never acknowledged.
    killNode(n1)
    const moved = await connectUntilServed(scene, n2.mqttUrl, persistent('ret-held'), 30_000)
    expect(moved.connack.sessionPresent).toBe(true)
    const resent = publishes(moved.client)
    const back = await restartNode(scene, n1, SIZE)
    nodes[0] = back
    await eventually('the delivery handed on and resent by n2', () => resent.length === 1, 30_000)
    expect(resent.map((p) => [p.messageId, p.dup])).toEqual([[firstSeen[0]?.messageId, true]])
    await eventually('the message settled at the client', () => moved.inbox.messages.some((m) => m.topic === 'held/q'), 10_000)
    for (const c of [moved, publisher]) await closeClient(c.client)
    sub.client.end(true)
  }, 120_000)

  it('loses no message PUBACKed to a publisher when a node crashes and restarts', async () => {
    const [n1, , n3] = nodes as [ClusterNodeProcess, ClusterNodeProcess, ClusterNodeProcess]
    // One persistent subscriber on the node that crashes (offline there), one online elsewhere.
    const local = await connectUntilServed(scene, n1.mqttUrl, persistent('crash-local'), 30_000)
    await local.client.subscribeAsync('crash/#', { qos: 1 })
    await closeClient(local.client)
    const remote = await scene.client(n3.mqttUrl, persistent('crash-remote'))
    await remote.client.subscribeAsync('crash/#', { qos: 1 })
    const publisher = await scene.client(n1.mqttUrl, { protocolVersion: 5, clientId: 'crash-pub', reconnectPeriod: 0 })
    await routeVisible(remote, publisher.client, 'crash/probe')

    // A window of QoS 1 publishes in flight when n1 dies: whatever got its PUBACK must survive.
    const acked = new Set<string>()
    const closed = new Promise<void>((resolve) => publisher.client.once('close', () => resolve()))
    for (let i = 0; i < TOTAL; i++) {
      // The ones in flight when n1 dies never settle (no reconnect): only the acknowledged count.
      publisher.client.publishAsync(`crash/m/${i % 8}`, `m-${i}`, { qos: 1 }).then(
        () => acked.add(`m-${i}`),
        () => undefined,
      )
    }
    await eventually('some publishes acknowledged', () => acked.size >= 100, 20_000)
    killNode(n1)
    await closed
    const ackedAtCrash = new Set(acked)
    console.log(`crash: ${ackedAtCrash.size} of ${TOTAL} QoS 1 publishes were PUBACKed before n1 died`)
    expect(ackedAtCrash.size).toBeGreaterThanOrEqual(100)
    expect(ackedAtCrash.size).toBeLessThan(TOTAL)

    const back = await restartNode(scene, n1, SIZE)
    nodes[0] = back
    const resumed = await connectUntilServed(scene, back.mqttUrl, persistent('crash-local'), 30_000)
    expect(resumed.connack.sessionPresent).toBe(true)
    await eventually('every PUBACKed message at the subscriber of the restarted node', () => [...ackedAtCrash].every((p) => payloads(resumed, 'crash/m/').has(p)), 30_000)
    await eventually('every PUBACKed message at the subscriber on n3', () => [...ackedAtCrash].every((p) => payloads(remote, 'crash/m/').has(p)), 30_000)
    for (const c of [resumed, remote]) await closeClient(c.client)
  }, 240_000)

  it('reports a publish forwarded to a node as it died in doubt, not acknowledged and lost, when the node is back', async () => {
    const [, n2, n3] = nodes as [ClusterNodeProcess, ClusterNodeProcess, ClusterNodeProcess]
    const sub = await connectUntilServed(scene, n2.mqttUrl, { ...persistent('late-sub'), reconnectPeriod: 0 }, 30_000)
    await sub.client.subscribeAsync('late/#', { qos: 1 })
    const publisher = await scene.client(n3.mqttUrl, { protocolVersion: 5, clientId: 'late-pub' })
    await routeVisible(sub, publisher.client, 'late/probe')
    // Listened for from here: the report may come before n2 is back (its lease expires first).
    const closed = new Promise<string>((resolve) => publisher.client.once('close', () => resolve('connection closed')))
    // Frozen, n2 reads nothing: n3 writes the batch on its open stream and n2 never applies it.
    n2.process.signal('SIGSTOP')
    let settled = false
    const published = publisher.client.publishAsync('late/m', 'in-flight', { qos: 1 }).finally(() => {
      settled = true
    })
    await sleep(500)
    killNode(n2)
    // The client moves to n3, which gets no answer from n2: the session resumes there from etcd,
    // without the publish. n3 keeps the batch, sent and unacknowledged, for n2's return.
    const moved = await connectUntilServed(scene, n3.mqttUrl, persistent('late-sub'), 30_000)
    expect(moved.connack.sessionPresent).toBe(true)
    expect(settled).toBe(false)
    const back = await restartNode(scene, n2, SIZE)
    nodes[1] = back
    // Sent again, n2's new life would have accepted it for a session it no longer holds, and the
    // PUBACK would have promised a publish nobody got: n3 reports it in doubt instead, and the
    // publisher is told (its connection is closed with 0x80, as for any publish not made durable).
    // In doubt either way: when n2 is back (a new life), or when its registration ended first
    // (its lease expired while it was down: the peer is closed).
    const outcome = await withTimeout(
      Promise.race([
        published.then(
          () => 'acknowledged',
          (error: unknown) => `refused: ${String(error)}`,
        ),
        closed,
      ]),
      30_000,
      'the outcome of the publish',
    ).catch(withLogTrail(nodes, /forward|relay|handed|resum|claimed|breaker|restarted/))
    expect(outcome).not.toBe('acknowledged')
    const inDoubt = (line: Record<string, unknown>): boolean => (line['err'] as { inDoubt?: boolean } | undefined)?.inDoubt === true
    expect(n3.process.lines.some((line) => line.msg === 'peer restarted: batches it did not acknowledge are reported in doubt, not resent' || (line.msg.startsWith('publish not made durable') && inDoubt(line)))).toBe(true)
    const next = await scene.client(n3.mqttUrl, { protocolVersion: 5, clientId: 'late-pub' })
    await next.client.publishAsync('late/m', 'after', { qos: 1 })
    await eventually('the next publish at the client on n3', () => payloads(moved, 'late/').has('after'), 10_000)
    // n2 never read the first one: it reached nobody, and nobody acknowledged it.
    expect(moved.inbox.messages.filter((m) => m.topic === 'late/m').map((m) => m.payload.toString())).toEqual(['after'])
    for (const c of [moved, publisher, next]) await closeClient(c.client)
  }, 240_000)
})

// Issue 10: the will of a client connected at the crash goes out exactly once cluster-wide,
// whether its node is back before the leader saw it die (the node publishes the will once it
// joined again) or after (the leader published it, and the node's start-up claim finds it gone
// from etcd). The lease is 15 s here: a node restarting with its etcd member takes 2 to 6 s on a
// loaded 2-core box, so "back within its lease" holds, and the leader's case waits for its expiry.
describe('a node restarted after a crash publishes the wills of its clients once (3 nodes, SQLite)', () => {
  const scene = sceneForTests()
  let nodes: ClusterNodeProcess[]
  beforeAll(async () => {
    nodes = await startCluster(scene, SIZE, setArgs({ 'storage.type': 'sqlite', 'cluster.etcd.lease_ttl': '15s' }))
  }, 120_000)

  it('publishes the will of a client connected at the crash once, when the node restarts at once', async () => {
    // Killed at the CONNACK: n1 stored the will but had not mirrored it into etcd yet.
    await willOnceAfterImmediateRestart('will-victim-1', 'crash-will/1', 'connack')
  }, 240_000)

  it('publishes the will of a clean-session client connected at the crash once, when the node restarts at once (at its first tick)', async () => {
    await willOnceAfterImmediateRestart('will-victim-3', 'crash-will/3', 'will in etcd', true)
  }, 240_000)

  it('publishes the will of a client connected at the crash once, when the node restarts after the leader published it', async () => {
    const watcher = await crashWithWill('will-victim-2', 'crash-will/2', 'will in etcd')
    // n1's lease expires, the leader sees it gone and publishes the will.
    await eventually('the will at the watcher on n2', () => watcher.inbox.messages.some((m) => m.topic === 'crash-will/2'), 45_000).catch(withLogTrail(nodes, WILL_TRAIL))
    expect(leaderPublished('will-victim-2')).toBe(true)
    const back = await restartNode(scene, nodes[0] as ClusterNodeProcess, SIZE)
    nodes[0] = back
    // The will is still in n1's storage, not n1's to publish: its start-up claim found it gone from
    // etcd, or found the session held by the leader that adopted it (n1 hands its copy on there).
    const handled = logLines(back, 'stored will already handled by the cluster, not published again').some((line) => line.clientId === 'will-victim-2')
    const adopted = nodes.some((node) => logLines(node, 'session held offline for an absent client').some((line) => line.clientId === 'will-victim-2'))
    expect(handled || adopted).toBe(true)
    await sleep(3_000)
    expect(watcher.inbox.messages.filter((m) => m.topic === 'crash-will/2')).toHaveLength(1)
    await closeClient(watcher.client)
  }, 240_000)

  /**
   * A watcher on n2 subscribed to `crash-will/#`, then a persistent v5 client of n1 (or a 3.1.1
   * clean-session one) with a will (no delay) to `topic`; n1 is SIGKILLed with its etcd member as
   * soon as the client has its CONNACK, or once n1 mirrored the will into etcd.
   */
  async function crashWithWill(clientId: string, topic: string, killAt: 'connack' | 'will in etcd', clean = false): Promise<OpenedClient> {
    const [n1, n2] = nodes as [ClusterNodeProcess, ClusterNodeProcess]
    const watcher = await scene.client(n2.mqttUrl, { protocolVersion: 5, clientId: `${clientId}-watch` })
    await watcher.client.subscribeAsync('crash-will/#', { qos: 1 })
    const prober = await connectUntilServed(scene, n1.mqttUrl, { protocolVersion: 5, clientId: `${clientId}-probe` }, 30_000)
    await routeVisible(watcher, prober.client, 'crash-will/probe')
    const session: IClientOptions = clean ? { protocolVersion: 4, clientId, clean: true } : persistent(clientId)
    await connectUntilServed(scene, n1.mqttUrl, { ...session, will: { topic, payload: Buffer.from('gone'), qos: 1, retain: false } }, 30_000)
    if (killAt === 'will in etcd') await eventually(`the will of ${clientId} in etcd`, async () => (await etcdValue(n2, `/fluxmq/fluxmq/wills/${encodeURIComponent(clientId)}`)) !== undefined, 10_000)
    killNode(n1)
    return watcher
  }

  /** n1 crashes with the client (see crashWithWill) and is started again at once: n1 publishes its will, once. */
  async function willOnceAfterImmediateRestart(clientId: string, topic: string, killAt: 'connack' | 'will in etcd', clean = false): Promise<void> {
    const watcher = await crashWithWill(clientId, topic, killAt, clean)
    const killedAt = Date.now()
    nodes[0] = await restartNode(scene, nodes[0] as ClusterNodeProcess, SIZE)
    console.log(`return: n1 was back ${Date.now() - killedAt} ms after it was killed`)
    await eventually('the will at the watcher on n2', () => watcher.inbox.messages.some((m) => m.topic === topic), 30_000).catch(withLogTrail(nodes, WILL_TRAIL))
    expect(leaderPublished(clientId)).toBe(false)
    // Nothing else publishes it, past the expiry of n1's old lease too (15 s after the kill).
    await sleep(Math.max(3_000, killedAt + 17_000 - Date.now()))
    expect(watcher.inbox.messages.filter((m) => m.topic === topic)).toHaveLength(1)
    await closeClient(watcher.client)
  }

  function leaderPublished(clientId: string): boolean {
    return nodes.some((node) => logLines(node, 'will of a dead node published').some((line) => line.clientId === clientId))
  }
})
