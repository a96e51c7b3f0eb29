import { describe, expect, it } from 'vitest'
import type { MqttClient } from 'mqtt'
import { closeClient, dropConnection, metricValue, type OpenedClient, type ReceivedMessage } from '@fluxmq/testing'
import { clusterForTests, eventually, joinNode, routeVisible, type ClusterNodeProcess } from './support/cluster.js'

// Three real fluxmq processes, each supervising its own etcd member of one 3-member etcd cluster.
const cluster = clusterForTests(3)
const { scene, node } = cluster

/** How many messages `from` forwarded to `peer` and had accepted (from `/api/v1/cluster`). */
async function acceptedBy(from: ClusterNodeProcess, peer: string): Promise<number> {
  const response = await fetch(`${from.httpUrl}/api/v1/cluster`, { signal: AbortSignal.timeout(2_000) })
  const body = (await response.json()) as { peers: { peer: string; acceptedMessages: number }[] }
  return body.peers.find((p) => p.peer === peer)?.acceptedMessages ?? -1
}

/**
 * Retains `<prefix>/small` (inline in etcd) and `<prefix>/big` (`bigSize` bytes, above the 1 KiB
 * inline threshold: the publisher's node holds its payload); resolves with the big payload.
 */
async function retainSmallAndBig(publisher: MqttClient, prefix: string, small: string, bigSize: number): Promise<Buffer> {
  const big = Buffer.alloc(bigSize, 7)
  await publisher.publishAsync(`${prefix}/small`, small, { qos: 1, retain: true })
  await publisher.publishAsync(`${prefix}/big`, big, { qos: 1, retain: true })
  return big
}

/** Subscribes to `<prefix>/+` and waits for the first two messages there (the retained ones): by topic. */
async function twoRetained(subscriber: OpenedClient, prefix: string): Promise<Map<string, ReceivedMessage>> {
  await subscriber.client.subscribeAsync(`${prefix}/+`, { qos: 1 })
  return new Map((await subscriber.inbox.waitForCount(2, 5_000)).map((m) => [m.topic, m]))
}

describe('a 3-node cluster on loopback (embedded etcd members)', () => {
  it('delivers QoS 0 and QoS 1 publishes from node 1 to a wildcard subscriber on node 3, in order', async () => {
    const sub = await scene.client(node(2).mqttUrl, { protocolVersion: 5, clientId: 'x-sub' })
    await sub.client.subscribeAsync({ 'x/+/one': { qos: 1 }, 'x/zero/#': { qos: 0 } })
    const pub = await scene.client(node(0).mqttUrl, { protocolVersion: 5, clientId: 'x-pub' })
    await routeVisible(sub, pub.client, 'x/zero/probe')
    await routeVisible(sub, pub.client, 'x/probe/one')
    const before = sub.inbox.messages.length

    const pubacks: (number | undefined)[] = []
    pub.client.on('packetreceive', (packet) => {
      if (packet.cmd === 'puback') pubacks.push(packet.reasonCode)
    })
    // publishAsync resolves on PUBACK: node 3 accepted the forwarded batch first.
    for (let i = 0; i < 20; i++) await pub.client.publishAsync(`x/${i}/one`, `q1-${i}`, { qos: 1 })
    // Success, not 0x10 No matching subscribers: node 1 has none, node 3 has one [MQTT-5 3.4.2.1].
    expect(pubacks).toEqual(Array.from({ length: 20 }, () => 0))
    for (let i = 0; i < 20; i++) pub.client.publish(`x/zero/${i}`, `q0-${i}`, { qos: 0 })

    const published = () => sub.inbox.messages.slice(before).filter((m) => !m.topic.includes('probe'))
    await eventually('40 messages on node 3', () => published().length >= 40, 10_000)
    const got = published()
    const q1 = got.filter((m) => m.topic.endsWith('/one'))
    const q0 = got.filter((m) => m.topic.startsWith('x/zero/'))
    expect(q1.map((m) => m.payload.toString())).toEqual(Array.from({ length: 20 }, (_, i) => `q1-${i}`))
    expect(q1.every((m) => m.packet.qos === 1)).toBe(true)
    expect(q0.map((m) => m.payload.toString())).toEqual(Array.from({ length: 20 }, (_, i) => `q0-${i}`))
    const metrics = await (await fetch(`${node(0).httpUrl}/metrics`)).text()
    expect(metricValue(metrics, 'fluxmq_cluster_forwarded_messages_total', '{peer="n3"}')).toBeGreaterThanOrEqual(40)
    expect(metricValue(metrics, 'fluxmq_cluster_peer_up', '{peer="n2"}')).toBe(1)
    // Nothing the subscriber did not ask for, and nothing twice.
    expect(sub.inbox.messages.filter((m) => m.topic === 'x/0/one')).toHaveLength(1)
    await closeClient(sub.client)
    await closeClient(pub.client)
  })

  it('makes a new subscription on node 3 visible to nodes 1 and 2 within 1 s', async () => {
    const pubs = [await scene.client(node(0).mqttUrl, { clientId: 'vis-pub-1' }), await scene.client(node(1).mqttUrl, { clientId: 'vis-pub-2' })]
    const sub = await scene.client(node(2).mqttUrl, { protocolVersion: 5, clientId: 'vis-sub' })
    await sub.client.subscribeAsync('vis/#', { qos: 0 })
    const [fromFirst, fromSecond] = await Promise.all([routeVisible(sub, pubs[0]!.client, 'vis/n1'), routeVisible(sub, pubs[1]!.client, 'vis/n2')])
    console.log(`route visible after SUBACK: node 1 ${Math.round(fromFirst as number)} ms, node 2 ${Math.round(fromSecond as number)} ms`)
    expect(fromFirst).toBeLessThan(1_000)
    expect(fromSecond).toBeLessThan(1_000)

    // And its removal: node 1 stops forwarding vis/… to node 3 (its peer counter stands still).
    await sub.client.unsubscribeAsync('vis/#')
    const unsubscribed = performance.now()
    await eventually(
      'node 1 to stop forwarding to node 3',
      async () => {
        const before = await acceptedBy(node(0), 'n3')
        await pubs[0]!.client.publishAsync('vis/n1', 'after-unsubscribe', { qos: 1 })
        return (await acceptedBy(node(0), 'n3')) === before
      },
      5_000,
    )
    const removedMs = performance.now() - unsubscribed
    console.log(`route removal visible on node 1 after ${Math.round(removedMs)} ms`)
    expect(removedMs).toBeLessThan(1_000)
    for (const pub of pubs) await closeClient(pub.client)
    await closeClient(sub.client)
  })

  it('moves a persistent v5 session with queued QoS 1 messages from node 1 to node 3', async () => {
    const options = { protocolVersion: 5 as const, clientId: 'mover', clean: false, properties: { sessionExpiryInterval: 300 } }
    const first = await scene.client(node(0).mqttUrl, options)
    expect(first.connack.sessionPresent).toBe(false)
    await first.client.subscribeAsync('mv/#', { qos: 1 })
    const pub = await scene.client(node(1).mqttUrl, { protocolVersion: 5, clientId: 'mv-pub' })
    await routeVisible(first, pub.client, 'mv/probe')
    await closeClient(first.client)

    // Offline on node 1: node 2's PUBACKs mean node 1 queued them for the session.
    for (let i = 0; i < 5; i++) await pub.client.publishAsync(`mv/${i}`, `queued-${i}`, { qos: 1 })

    const started = performance.now()
    const moved = await scene.client(node(2).mqttUrl, options)
    console.log(`takeover CONNECT → CONNACK on another node: ${Math.round(performance.now() - started)} ms`)
    expect(moved.connack.sessionPresent).toBe(true)
    const queued = await moved.inbox.waitForCount(5, 10_000)
    expect(queued.map((m) => m.payload.toString())).toEqual(['queued-0', 'queued-1', 'queued-2', 'queued-3', 'queued-4'])
    expect(queued.every((m) => m.packet.qos === 1)).toBe(true)

    // Its subscription came along: node 3 routes it now, for publishers on every node.
    await routeVisible(moved, pub.client, 'mv/probe-after')
    const publisherOnOldNode = await scene.client(node(0).mqttUrl, { protocolVersion: 5, clientId: 'mv-pub-old' })
    await publisherOnOldNode.client.publishAsync('mv/after', 'after-move', { qos: 1 })
    const after = await moved.inbox.waitFor((m) => m.topic === 'mv/after')
    expect(after.payload.toString()).toBe('after-move')
    const metrics = await (await fetch(`${node(2).httpUrl}/metrics`)).text()
    expect(metricValue(metrics, 'fluxmq_cluster_takeover_seconds_count')).toBe(1)
    // Exactly once: the old node no longer holds a copy of the session that could deliver it again.
    expect(moved.inbox.messages.filter((m) => m.topic === 'mv/after')).toHaveLength(1)
    expect(moved.inbox.messages.filter((m) => m.topic.startsWith('mv/') && /^mv\/\d$/.test(m.topic))).toHaveLength(5)
    await closeClient(moved.client)
  })

  it('gives a retained message set on node 1 to a new subscriber on node 3, and an empty payload clears it everywhere', async () => {
    const pub = await scene.client(node(0).mqttUrl, { protocolVersion: 5, clientId: 'ret-pub' })
    const big = await retainSmallAndBig(pub.client, 'ret', 'kept', 4096)
    // PUBACK waited for every node to accept the retained publish: no polling needed.
    const sub = await scene.client(node(2).mqttUrl, { protocolVersion: 5, clientId: 'ret-sub' })
    const got = await twoRetained(sub, 'ret')
    expect(got.get('ret/small')?.payload.toString()).toBe('kept')
    expect(got.get('ret/big')?.payload.equals(big)).toBe(true)
    expect([...got.values()].every((m) => m.packet.retain)).toBe(true)
    await closeClient(sub.client)

    await pub.client.publishAsync('ret/small', '', { qos: 1, retain: true })
    const later = await scene.client(node(1).mqttUrl, { protocolVersion: 5, clientId: 'ret-later' })
    await later.client.subscribeAsync('ret/+', { qos: 1 })
    // Retained messages are sent on SUBSCRIBE, before anything published after it: once the
    // client's own marker arrived, every retained message it will get is there.
    await later.client.publishAsync('ret/marker', 'm', { qos: 1 })
    await later.inbox.waitFor((m) => m.topic === 'ret/marker', 5_000)
    expect(later.inbox.messages.map((m) => m.topic)).toEqual(['ret/big', 'ret/marker'])
    await closeClient(later.client)
    await closeClient(pub.client)
  })

  it('[MQTT-4.8.2] gives each message of a $share group with members on nodes 1 and 3 to exactly one member', async () => {
    const members = [await scene.client(node(0).mqttUrl, { protocolVersion: 5, clientId: 'sh-1' }), await scene.client(node(2).mqttUrl, { protocolVersion: 5, clientId: 'sh-3' })]
    for (const member of members) await member.client.subscribeAsync('$share/g/sh/+', { qos: 1 })
    const publishers = [0, 1, 2].map((i) => scene.client(node(i).mqttUrl, { protocolVersion: 5, clientId: `sh-pub-${i + 1}` }))
    const pubs = await Promise.all(publishers)
    // Every node sees both members' routes once probes published on it reach both members.
    for (const [i, pub] of pubs.entries()) {
      let k = 0
      await eventually(
        `probes from node ${i + 1} reaching both members`,
        async () => {
          if (members.every((m) => m.inbox.messages.some((msg) => msg.payload.toString() === `probe-${i}`))) return true
          await pub.client.publishAsync(`sh/probe${k++}`, `probe-${i}`, { qos: 0 })
          return false
        },
        5_000,
      )
    }
    const before = members.map((m) => m.inbox.messages.length)
    for (let i = 0; i < 40; i++) await pubs[1]!.client.publishAsync(`sh/${i}`, `m-${i}`, { qos: 1 })
    const received = () => members.flatMap((m, j) => m.inbox.messages.slice(before[j]).filter((msg) => msg.payload.toString().startsWith('m-')))
    await eventually('40 messages over both members', () => received().length >= 40, 10_000)
    const payloads = received().map((msg) => msg.payload.toString())
    expect(payloads.sort()).toEqual(Array.from({ length: 40 }, (_, i) => `m-${i}`).sort())
    const perMember = members.map((m, j) => m.inbox.messages.slice(before[j]).filter((msg) => msg.payload.toString().startsWith('m-')).length)
    console.log(`$share/g across nodes 1 and 3: ${perMember.join(' + ')} of 40`)
    expect(perMember.every((n) => n > 0)).toBe(true)
    for (const c of [...members, ...pubs]) await closeClient(c.client)
  })

  it('delivers QoS 2 across nodes exactly once', async () => {
    const sub = await scene.client(node(1).mqttUrl, { protocolVersion: 5, clientId: 'q2-sub' })
    await sub.client.subscribeAsync('q2/#', { qos: 2 })
    const pub = await scene.client(node(0).mqttUrl, { protocolVersion: 5, clientId: 'q2-pub' })
    await routeVisible(sub, pub.client, 'q2/probe')
    for (let i = 0; i < 10; i++) await pub.client.publishAsync(`q2/${i}`, `q2-${i}`, { qos: 2 })
    await eventually('10 QoS 2 messages', () => sub.inbox.messages.filter((m) => m.packet.qos === 2).length >= 10, 10_000)
    expect(sub.inbox.messages.filter((m) => m.packet.qos === 2).map((m) => m.payload.toString())).toEqual(Array.from({ length: 10 }, (_, i) => `q2-${i}`))
    await closeClient(sub.client)
    await closeClient(pub.client)
  })

  it('lets exactly one of two simultaneous connections with one client id on nodes 1 and 2 keep the session', async () => {
    const options = { protocolVersion: 5 as const, clientId: 'twice', clean: false, properties: { sessionExpiryInterval: 60 } }
    const settled = await Promise.allSettled([scene.client(node(0).mqttUrl, options), scene.client(node(1).mqttUrl, options)])
    const opened = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
    expect(opened.length).toBeGreaterThan(0)
    // The loser is refused or closed (0x8E) once the winner took the session over.
    await eventually('one connection left', () => opened.filter((c) => c.client.connected).length === 1, 10_000)
    const winner = opened.find((c) => c.client.connected) as OpenedClient
    await winner.client.subscribeAsync('twice/t', { qos: 1 })
    const pub = await scene.client(node(2).mqttUrl, { protocolVersion: 5, clientId: 'twice-pub' })
    await routeVisible(winner, pub.client, 'twice/t')
    expect(opened.filter((c) => c.client.connected)).toHaveLength(1)
    await closeClient(winner.client)
    await closeClient(pub.client)
  })

  it('publishes the will of a client dropped on node 1 to a subscriber on node 3', async () => {
    const sub = await scene.client(node(2).mqttUrl, { protocolVersion: 5, clientId: 'will-sub' })
    await sub.client.subscribeAsync('will/#', { qos: 1 })
    const probe = await scene.client(node(0).mqttUrl, { protocolVersion: 5, clientId: 'will-probe' })
    await routeVisible(sub, probe.client, 'will/probe')
    const dying = await scene.client(node(0).mqttUrl, { protocolVersion: 5, clientId: 'will-client', will: { topic: 'will/gone', payload: Buffer.from('bye'), qos: 1, retain: false } })
    await dropConnection(dying.client)
    const will = await sub.inbox.waitFor((m) => m.topic === 'will/gone', 10_000)
    expect(will.payload.toString()).toBe('bye')
    await closeClient(sub.client)
    await closeClient(probe.client)
  })

  // Last: it adds a fourth node to the cluster the other tests use.
  it('gives a node that joins later (external etcd mode, memory storage) the retained messages set before', async () => {
    const pub = await scene.client(node(0).mqttUrl, { protocolVersion: 5, clientId: 'late-pub' })
    const big = await retainSmallAndBig(pub.client, 'late', 'before-join', 8192)
    const late = await joinNode(scene, 'n4', cluster.nodes.map((n) => n.etcdClientAddr), 4)
    const sub = await scene.client(late.mqttUrl, { protocolVersion: 5, clientId: 'late-sub' })
    const got = await twoRetained(sub, 'late')
    expect(got.get('late/small')?.payload.toString()).toBe('before-join')
    // Above the 1 KiB threshold: fetched from node 1, which holds the payload.
    expect(got.get('late/big')?.payload.equals(big)).toBe(true)
    // And it takes part in routing like the others: a publish on it reaches node 2.
    const far = await scene.client(node(1).mqttUrl, { protocolVersion: 5, clientId: 'late-far' })
    await far.client.subscribeAsync('late/live', { qos: 1 })
    const latePub = await scene.client(late.mqttUrl, { protocolVersion: 5, clientId: 'late-pub-2' })
    await routeVisible(far, latePub.client, 'late/live')
    for (const c of [pub, sub, far, latePub]) await closeClient(c.client)
  })
})
