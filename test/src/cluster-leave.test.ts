import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import type { IDisconnectPacket } from 'mqtt'
import { closeClient, setArgs } from '@fluxmq/testing'
import { clusterForTests, eventually, routeVisible, type ClusterNodeProcess } from './support/cluster.js'
import { FLUXMQ_BIN } from './support/fluxmq.js'

const run = promisify(execFile)

// Graceful leave (SIGTERM) of one of three real fluxmq processes, each with its embedded etcd
// member, on SQLite. No fault injection: the node is told to stop and must hand everything over.
/** The drain gets half of it: 20 s, far more than the test needs to move every session. */
const SHUTDOWN_TIMEOUT = '40s'

const { scene, node } = clusterForTests(3, setArgs({ 'storage.type': 'sqlite', 'server.shutdown_timeout': SHUTDOWN_TIMEOUT }))

interface ClusterView {
  readonly nodes: readonly string[]
  readonly leaving: readonly string[]
}

async function clusterView(of: ClusterNodeProcess): Promise<ClusterView> {
  return (await (await fetch(`${of.httpUrl}/api/v1/cluster`, { signal: AbortSignal.timeout(2_000) })).json()) as ClusterView
}

const persistent = { clean: false, properties: { sessionExpiryInterval: 300 } } as const

describe('graceful leave of one node of three (SIGTERM, SQLite)', () => {
  it('sends its clients to the other nodes, hands over their sessions with subscriptions, inflight and offline messages, then leaves etcd', async () => {
    const [n1, n2, n3] = [node(0), node(1), node(2)]
    const mqttAddrs = [n2, n3].map((n) => n.mqttUrl.replace('mqtt://', ''))
    const publisher = await scene.client(n2.mqttUrl, { protocolVersion: 5, clientId: 'leave-pub' })

    // Offline with a queue on n1: its client comes back only after the others moved, so n1 must
    // keep answering takeovers until then.
    const offline = await scene.client(n1.mqttUrl, { protocolVersion: 5, clientId: 'leave-offline', ...persistent })
    await offline.client.subscribeAsync('leave/offline/#', { qos: 1 })
    await routeVisible(offline, publisher.client, 'leave/offline/probe')
    await closeClient(offline.client)
    for (let i = 0; i < 20; i++) await publisher.client.publishAsync(`leave/offline/${i}`, `queued-${i}`, { qos: 1 })

    // Connected, never acknowledging: its messages are inflight on n1 when it is told to move.
    // (mqtt.js reads nothing after a publish it does not acknowledge: it sees only the first, and
    // not the DISCONNECT; it sees its connection close.)
    const inflight = await scene.client(n1.mqttUrl, { protocolVersion: 5, clientId: 'leave-inflight', ...persistent, customHandleAcks: () => undefined })
    const unacknowledged: string[] = []
    inflight.client.on('packetreceive', (packet) => {
      if (packet.cmd === 'publish' && packet.qos === 1) unacknowledged.push(packet.payload.toString())
    })
    await inflight.client.subscribeAsync('leave/inflight/#', { qos: 1 })
    await routeVisible(inflight, publisher.client, 'leave/inflight/probe')
    for (let i = 0; i < 10; i++) await publisher.client.publishAsync(`leave/inflight/${i}`, `inflight-${i}`, { qos: 1 })
    await eventually('the first inflight message at the client', () => unacknowledged.length > 0, 10_000)
    expect(unacknowledged[0]).toBe('inflight-0')
    const inflightClosed = new Promise<void>((resolve) => inflight.client.once('close', () => resolve()))

    // A v5 client that reads everything: it is told where to go.
    const told = await scene.client(n1.mqttUrl, { protocolVersion: 5, clientId: 'leave-told', ...persistent })
    await told.client.subscribeAsync('leave/told', { qos: 1 })
    const disconnected = new Promise<IDisconnectPacket>((resolve) => told.client.once('disconnect', resolve))

    // MQTT 3.1.1 has no server DISCONNECT: it is just closed.
    const old = await scene.client(n1.mqttUrl, { protocolVersion: 4, clientId: 'leave-311', clean: false })
    await old.client.subscribeAsync('leave/old', { qos: 1 })
    const oldPackets: string[] = []
    old.client.on('packetreceive', (packet) => oldPackets.push(packet.cmd))
    const oldClosed = new Promise<void>((resolve) => old.client.once('close', () => resolve()))

    const exited = n1.process.stop('SIGTERM', 60_000)

    // [MQTT-5 4.11] Use another server, naming a node that serves.
    const disconnect = await disconnected
    expect(disconnect.reasonCode).toBe(0x9c)
    const reference = disconnect.properties?.serverReference ?? ''
    expect(mqttAddrs).toContain(reference)
    await oldClosed
    expect(oldPackets).not.toContain('disconnect')
    await inflightClosed

    // The offline session has not moved yet: n1 stays a member, marked leaving, for the others and in ctl.
    await eventually('n1 leaving in n2 view', async () => (await clusterView(n2)).leaving.includes('n1'), 10_000)
    const { stdout } = await run(process.execPath, [FLUXMQ_BIN, 'ctl', '--url', n2.httpUrl, 'cluster'])
    expect(stdout).toMatch(/nodes n1 \(leaving\), n2, n3/)
    expect(n1.process.running).toBe(true)

    // The told client follows the reference: its session and subscription come along.
    const toldMoved = await scene.client(`mqtt://${reference}`, { protocolVersion: 5, clientId: 'leave-told', ...persistent })
    expect(toldMoved.connack.sessionPresent).toBe(true)
    await routeVisible(toldMoved, publisher.client, 'leave/told')

    // The silent client reconnects to n2: its inflight messages come along (sent again, DUP).
    const moved = await scene.client(n2.mqttUrl, { protocolVersion: 5, clientId: 'leave-inflight', ...persistent })
    expect(moved.connack.sessionPresent).toBe(true)
    const resent = () => moved.inbox.messages.filter((m) => m.payload.toString().startsWith('inflight-'))
    await eventually('the 10 inflight messages again', () => resent().length >= 10, 10_000)
    expect(resent().map((m) => m.payload.toString())).toEqual(Array.from({ length: 10 }, (_, i) => `inflight-${i}`))
    expect(resent()[0]?.packet.dup).toBe(true)

    // The 3.1.1 client reconnects to n3 on its own: its subscription came along.
    const oldMoved = await scene.client(n3.mqttUrl, { protocolVersion: 4, clientId: 'leave-311', clean: false })
    expect(oldMoved.connack.sessionPresent).toBe(true)
    await routeVisible(oldMoved, publisher.client, 'leave/old')

    // Last, the offline client: every message queued for it on n1 arrives at n3, in order.
    const offlineMoved = await scene.client(n3.mqttUrl, { protocolVersion: 5, clientId: 'leave-offline', ...persistent })
    const movedAt = Date.now()
    expect(offlineMoved.connack.sessionPresent).toBe(true)
    const queued = () => offlineMoved.inbox.messages.filter((m) => m.payload.toString().startsWith('queued-'))
    await eventually('the 20 queued messages', () => queued().length >= 20, 10_000)
    expect(queued().map((m) => m.payload.toString())).toEqual(Array.from({ length: 20 }, (_, i) => `queued-${i}`))

    // Every session moved: n1 leaves at once (not at the end of its drain) and cleanly.
    expect(await exited).toBe(0)
    expect(Date.now() - movedAt).toBeLessThan(15_000)
    expect(n1.process.find('every session moved; leaving')).toBeDefined()
    // Deregistered, not dropped after its lease TTL.
    await eventually('n1 gone from n2 and n3', async () => (await clusterView(n2)).nodes.length === 2 && (await clusterView(n3)).nodes.length === 2, 3_000)

    // The moved sessions keep working on their new nodes.
    await publisher.client.publishAsync('leave/offline/after', 'after', { qos: 1 })
    await eventually('a publish after the leave', () => offlineMoved.inbox.messages.some((m) => m.payload.toString() === 'after'), 10_000)
    for (const c of [publisher, toldMoved, moved, oldMoved, offlineMoved]) await closeClient(c.client)
  }, 120_000)
})
