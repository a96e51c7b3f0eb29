import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Broker, MemoryStorage, Refusal, type ClientLink, type ConnectRequest, type ConnectResult, type Delivery } from '@fluxmq/core'
import { Cleanup, freePorts, IN_PROCESS_BROKER_OPTIONS, RecordingLogger, until } from '@fluxmq/testing'
import { ClusterNode } from './cluster-node.js'
import { sharedMemberEtcd } from './test-support/etcd.js'

/** A client connection as the core sees it: records deliveries and how it was closed. */
class Link implements ClientLink {
  readonly topics: string[] = []
  closed: Refusal | undefined
  hasCredit(): boolean {
    return true
  }
  deliver(d: Delivery): boolean {
    this.topics.push(d.message.topic)
    return true
  }
  close(reason: Refusal): void {
    this.closed = reason
  }
}

/**
 * A TCP relay in front of a node's transport that can hold what one side sends: the node is
 * registered under the relay's address, so every peer reaches it through here.
 */
class HoldingRelay {
  private readonly server: Server
  target = 0
  private held: (() => void)[] | undefined

  constructor() {
    this.server = createServer((client: Socket) => {
      const upstream = tcpConnect(this.target, '127.0.0.1')
      client.on('data', (chunk) => {
        if (this.held === undefined) upstream.write(chunk)
        else this.held.push(() => upstream.write(chunk))
      })
      upstream.pipe(client)
      const destroy = (): void => {
        client.destroy()
        upstream.destroy()
      }
      client.on('error', destroy).on('close', destroy)
      upstream.on('error', destroy).on('close', destroy)
    })
  }

  listen(): Promise<number> {
    return new Promise((resolve) => this.server.listen(0, '127.0.0.1', () => resolve((this.server.address() as { port: number }).port)))
  }

  hold(): void {
    this.held = []
  }

  release(): void {
    const held = this.held ?? []
    this.held = undefined
    for (const write of held) write()
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()))
  }
}

/** How long a node may take to see another's claim, surrender or forward on a loaded machine. */
const WAIT_MS = 10_000

interface Member {
  readonly node: ClusterNode
  readonly broker: Broker
  readonly log: RecordingLogger
}

const cleanup = new Cleanup()
const relay = new HoldingRelay()
let a: Member
let b: Member
let c: Member

// Three nodes with real brokers on one real etcd member (node a embeds it); node a is reached
// through a relay that can hold what the others send it.
beforeAll(async () => {
  const [client, peer, transportA] = (await freePorts(3)) as [number, number, number]
  relay.target = transportA
  const relayPort = await relay.listen()
  cleanup.defer(() => relay.close())
  const base = cleanup.tempDir('fluxmq-fencing-')
  const start = async (nodeId: string): Promise<Member> => {
    const log = new RecordingLogger()
    const embedded = nodeId === 'a'
    const storage = new MemoryStorage()
    const node = await ClusterNode.start({
      nodeId,
      clusterName: 'fencing',
      version: '0.0.0',
      clientAddrs: {},
      logger: log,
      etcd: sharedMemberEtcd({ client, peer }, join(base, 'etcd'), embedded, 1024),
      transport: { host: '127.0.0.1', port: embedded ? transportA : 0, advertiseAddr: embedded ? `127.0.0.1:${relayPort}` : '', tls: undefined },
      sync: () => storage.sync(),
    })
    cleanup.defer(() => node.leave())
    const broker = new Broker({
      ...IN_PROCESS_BROKER_OPTIONS,
      nodeId,
      clock: { now: () => Date.now() },
      logger: log,
      storage,
      cluster: node.cluster,
      retryIntervalMs: 0,
      defaultExpiry: 0,
    })
    await broker.start()
    cleanup.defer(() => broker.stop())
    return { node, broker, log }
  }
  a = await start('a')
  b = await start('b')
  c = await start('c')
  await Promise.all([a, b, c].map((m) => m.node.join({ loadRetained: false })))
  await until(() => [a, b, c].every((m) => m.node.report().peers.length === 2), 'every node to see the others', WAIT_MS)
}, 60_000)

afterAll(() => cleanup.run(), 60_000)

function request(clientId: string): ConnectRequest {
  return { clientId, protocol: 'mqtt5', cleanStart: false, sessionExpiryInterval: 600, receiveMaximum: 100 }
}

function connected(result: ConnectResult): Extract<ConnectResult, { ok: true }> {
  if (!result.ok) throw new Error(`connect refused: ${result.reason}`)
  return result
}

describe('fenced session takeover (real etcd, real transport, real brokers)', () => {
  it('one client id connecting on two nodes at once, the first claim delayed: exactly one session wins, with all its state', async () => {
    // The session lives on node a with three queued QoS 1 messages.
    const first = new Link()
    const onA = connected(await a.broker.connect(request('twice'), first))
    a.broker.activate(onA.session)
    a.broker.subscribe(onA.session, [{ filter: 'q/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }])
    a.broker.disconnect(onA.session, { publishWill: false, sessionExpiryInterval: undefined })
    for (let i = 1; i <= 3; i++) a.broker.publish(null, { topic: `q/${i}`, payload: Buffer.from(`m${i}`), qos: 1, retain: false, properties: {}, publishedAt: Date.now() })

    // Node b claims first, but its takeover request to node a is held until node c claimed too.
    relay.hold()
    const linkB = new Link()
    const onB = b.broker.connect(request('twice'), linkB)
    await until(() => b.log.lines.some((l) => l.msg === 'session claimed'), 'node b to claim', WAIT_MS)
    const linkC = new Link()
    const onC = c.broker.connect(request('twice'), linkC)
    await until(() => c.log.lines.some((l) => l.msg === 'session claimed'), 'node c to claim', WAIT_MS)
    // Node c asked node b, the owner etcd named; node b is still fetching the state from node a.
    await until(() => b.log.lines.some((l) => l.msg === 'surrender waits for the takeover under way here'), 'node b to hold the surrender', WAIT_MS)
    relay.release()

    const [resultB, resultC] = await Promise.all([onB, onC])
    // Node b's claim completed and was then taken over by the newer one: its client got 0x8E.
    expect(resultB.ok).toBe(true)
    expect(linkB.closed).toBe(Refusal.SessionTakenOver)
    const winner = connected(resultC)
    expect(winner.sessionPresent).toBe(true)
    c.broker.activate(winner.session)
    await until(() => linkC.topics.length >= 3, 'the queued messages on node c', WAIT_MS)
    expect(linkC.topics).toEqual(['q/1', 'q/2', 'q/3'])
    expect(linkC.closed).toBeUndefined()
    // Exactly one session, on the node etcd names.
    expect(a.broker.session('twice')).toBeUndefined()
    expect(b.broker.session('twice')).toBeUndefined()
    expect(c.broker.session('twice')?.connected).toBe(true)
  })
})
