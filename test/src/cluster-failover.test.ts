import { readdirSync, readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import type { IClientOptions } from 'mqtt'
import { closeClient, dropConnection, openClient } from '@fluxmq/testing'
import { connectUntilServed, etcdKeys, eventually, routeVisible, startCluster, WILL_TRAIL, withLogTrail, type ClusterNodeProcess } from './support/cluster.js'
import { type Scene, sceneForTests } from './support/fluxmq.js'

// Failures of real processes: each scenario runs a 3-node cluster (each node with its embedded
// etcd member, lease TTL 5 s) and kills or freezes processes with signals. Killing a broker with
// SIGKILL stands for its machine dying, so its etcd member is SIGKILLed with it. A frozen member
// (SIGSTOP) stands for a member that is gone until it is brought back (SIGCONT); a killed one
// would be restarted by its broker's supervisor at once.
const LEASE_TTL_MS = 5_000

interface ClusterView {
  readonly leader: string | null
  readonly nodes: readonly string[]
  readonly dead: readonly { readonly node: string; readonly state: string }[]
}

async function view(node: ClusterNodeProcess): Promise<ClusterView> {
  const response = await fetch(`${node.httpUrl}/api/v1/cluster`, { signal: AbortSignal.timeout(2_000) })
  return (await response.json()) as ClusterView
}

async function readyStatus(node: ClusterNodeProcess): Promise<number> {
  return (await fetch(`${node.httpUrl}/ready`, { signal: AbortSignal.timeout(2_000) })).status
}

/** What a node's /ready reports as failing, as JSON. */
async function readyChecks(node: ClusterNodeProcess): Promise<string> {
  const body = (await (await fetch(`${node.httpUrl}/ready`, { signal: AbortSignal.timeout(2_000) })).json()) as { checks: unknown }
  return JSON.stringify(body.checks)
}

/** The pid of a node's etcd member, found by the client URL it listens on. */
function memberPid(node: ClusterNodeProcess): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let cmdline: string
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8')
    } catch {
      continue
    }
    if (cmdline.includes(`--listen-client-urls=http://${node.etcdClientAddr}`)) return Number(entry)
  }
  throw new Error(`no etcd member listening on ${node.etcdClientAddr}`)
}

/** The machine dies: the broker and its etcd member, both SIGKILLed. */
function killNode(node: ClusterNodeProcess): void {
  const member = memberPid(node)
  node.process.signal('SIGKILL')
  process.kill(member, 'SIGKILL')
}

/** How many times any of `nodes` logged `msg` for `clientId`. */
function logged(nodes: readonly ClusterNodeProcess[], msg: string, clientId: string): number {
  return nodes.reduce((sum, n) => sum + n.process.lines.filter((line) => line.msg === msg && line['clientId'] === clientId).length, 0)
}

function persistent(clientId: string, willTopic: string, willDelay: number, expiry = 300): IClientOptions {
  return {
    protocolVersion: 5,
    clientId,
    clean: false,
    properties: { sessionExpiryInterval: expiry },
    will: { topic: willTopic, payload: Buffer.from(`${clientId} is gone`), qos: 1, retain: false, properties: { willDelayInterval: willDelay } },
  }
}

function other(nodes: readonly ClusterNodeProcess[], ...not: ClusterNodeProcess[]): ClusterNodeProcess[] {
  return nodes.filter((n) => !not.includes(n))
}

async function leaderOf(nodes: readonly ClusterNodeProcess[]): Promise<ClusterNodeProcess> {
  let leader: string | null = null
  await eventually('a leader', async () => (leader = (await view(nodes[0] as ClusterNodeProcess)).leader) !== null, 15_000)
  const found = nodes.find((n) => n.nodeId === leader)
  if (found === undefined) throw new Error(`leader ${String(leader)} is not one of the nodes`)
  return found
}

/** A 3-node cluster once it elected its leader: the leader and the two others. */
async function startLedCluster(scene: Scene): Promise<{ leader: ClusterNodeProcess; others: [ClusterNodeProcess, ClusterNodeProcess] }> {
  const nodes = await startCluster(scene, 3)
  const leader = await leaderOf(nodes)
  return { leader, others: other(nodes, leader) as [ClusterNodeProcess, ClusterNodeProcess] }
}

describe('node death and etcd member death (3 nodes)', () => {
  const scene = sceneForTests()

  it('keeps working when one etcd member is killed, then a dead node’s clients resume elsewhere with their subscriptions and wills fire once', async () => {
    const { leader, others: [victim, survivor] } = await startLedCluster(scene)

    // One etcd member killed (its broker restarts it): the other nodes serve on, and it comes back.
    // If it was etcd's raft leader, claims fail for the second the others take to elect one: a
    // CONNECT then is refused (Server unavailable) and the client connects again, as clients do.
    process.kill(memberPid(victim), 'SIGKILL')
    const sub = await connectUntilServed(scene, leader.mqttUrl, { protocolVersion: 5, clientId: 'm-sub' }, 10_000)
    await sub.client.subscribeAsync('m/#', { qos: 1 })
    const pub = await connectUntilServed(scene, survivor.mqttUrl, { protocolVersion: 5, clientId: 'm-pub' }, 10_000)
    await eventually('a publish across the two healthy nodes', async () => {
      await pub.client.publishAsync('m/x', 'during', { qos: 1 })
      return sub.inbox.messages.length > 0
    }, 10_000)
    await eventually(`${victim.nodeId} ready again with a restarted member`, async () => (await readyStatus(victim)) === 200, 30_000)
    await closeClient(sub.client)
    await closeClient(pub.client)

    // Persistent clients on the node that will die: p1's will is due 1 s after the death,
    // p2 comes back within its 8 s delay (no will), both resume on `survivor`.
    const p1 = await connectUntilServed(scene, victim.mqttUrl, persistent('p1', 'will/p1', 1), 10_000)
    await p1.client.subscribeAsync('data/p1/#', { qos: 1 })
    const p2 = await connectUntilServed(scene, victim.mqttUrl, persistent('p2', 'will/p2', 8), 10_000)
    // Clients whose session ends with their connection (the usual presence pattern): their wills
    // are due at the death itself.
    const clean = [
      await connectUntilServed(scene, victim.mqttUrl, { protocolVersion: 4, clientId: 'c311', clean: true, will: { topic: 'will/c311', payload: Buffer.from('c311 is gone'), qos: 1, retain: false } }, 10_000),
      await connectUntilServed(scene, victim.mqttUrl, { protocolVersion: 5, clientId: 'c5', clean: true, will: { topic: 'will/c5', payload: Buffer.from('c5 is gone'), qos: 1, retain: false } }, 10_000),
    ]
    const watcher = await connectUntilServed(scene, leader.mqttUrl, { protocolVersion: 5, clientId: 'w' }, 10_000)
    await watcher.client.subscribeAsync('will/#', { qos: 1 })
    // The mirrored subscription and wills reached etcd; nothing is saved to resume a clean session.
    await eventually('p1 saved in etcd', async () => (await etcdKeys(leader, '/fluxmq/fluxmq/subs/')).includes('/fluxmq/fluxmq/subs/p1'), 5_000)
    await eventually('the wills in etcd', async () => {
      const wills = await etcdKeys(leader, '/fluxmq/fluxmq/wills/')
      return ['p1', 'c311', 'c5'].every((id) => wills.includes(`/fluxmq/fluxmq/wills/${id}`))
    }, 5_000)
    expect((await etcdKeys(leader, '/fluxmq/fluxmq/subs/')).filter((key) => /\/(c311|c5)$/.test(key))).toEqual([])
    expect((await etcdKeys(leader, '/fluxmq/fluxmq/routes/')).some((key) => key.endsWith(`/${victim.nodeId}`))).toBe(true)

    const killedAt = performance.now()
    killNode(victim)
    // mqtt.js must not reconnect by itself to the dead node.
    p1.client.end(true)
    p2.client.end(true)
    for (const c of clean) c.client.end(true)

    // p2 reconnects (without a will now) as soon as it is served again; the node gone is seen as dead by the others.
    const p2Back = await connectUntilServed(scene, survivor.mqttUrl, { protocolVersion: 5, clientId: 'p2', clean: false, properties: { sessionExpiryInterval: 300 } }, LEASE_TTL_MS * 4)
    const reServedMs = performance.now() - killedAt
    expect(p2Back.connack.sessionPresent).toBe(true)
    await eventually('the dead node reported dead', async () => {
      const seen = await view(survivor)
      return !seen.nodes.includes(victim.nodeId) && seen.dead.some((d) => d.node === victim.nodeId && d.state === 'dead')
    }, LEASE_TTL_MS * 2)
    // Its routes went with its lease.
    expect((await etcdKeys(leader, '/fluxmq/fluxmq/routes/')).filter((key) => key.endsWith(`/${victim.nodeId}`))).toEqual([])

    await eventually('p1’s will', () => watcher.inbox.messages.some((m) => m.topic === 'will/p1'), LEASE_TTL_MS * 3).catch(withLogTrail([leader, survivor], WILL_TRAIL))
    const willMs = performance.now() - killedAt

    // p1 comes back after its will went out: its session resumes with its subscription from etcd.
    const p1Back = await connectUntilServed(scene, survivor.mqttUrl, persistent('p1', 'will/p1', 1), 10_000)
    expect(p1Back.connack.sessionPresent).toBe(true)
    const feeder = await scene.client(leader.mqttUrl, { protocolVersion: 5, clientId: 'feeder' })
    await eventually('a publish to p1’s restored subscription', async () => {
      await feeder.client.publishAsync('data/p1/a', 'after death', { qos: 1 })
      return p1Back.inbox.messages.some((m) => m.topic === 'data/p1/a')
    }, 10_000)

    // p2's will came due 8 s after the death and p2 had come back first: dropped, never published.
    const alive = [leader, survivor]
    await eventually('the leader to drop p2’s will', () => logged(alive, 'will of a dead node dropped, its client came back', 'p2') === 1, 20_000)
    expect(watcher.inbox.messages.filter((m) => m.topic === 'will/p1')).toHaveLength(1)
    expect(watcher.inbox.messages.filter((m) => m.topic === 'will/p2')).toHaveLength(0)
    expect(logged(alive, 'will of a dead node published', 'p1')).toBe(1)
    for (const id of ['c311', 'c5']) {
      expect(watcher.inbox.messages.filter((m) => m.topic === `will/${id}`).map((m) => m.payload.toString())).toEqual([`${id} is gone`])
      expect(logged(alive, 'will of a dead node published', id)).toBe(1)
    }
    // The two others kept serving: a fresh client on each, without any operator action.
    for (const n of alive) expect((await readyStatus(n))).toBe(200)
    console.log(`node death: clients re-served after ${Math.round(reServedMs)} ms, will delivered after ${Math.round(willMs)} ms (lease TTL ${LEASE_TTL_MS} ms, will delay 1 s)`)
    for (const c of [p1Back, p2Back, feeder, watcher]) await closeClient(c.client)
  }, 150_000)

  it('a will that cannot reach the node that just died reaches its persistent watcher on the node the watcher moves to, once', async () => {
    const [victim, willNode, next] = (await startCluster(scene, 3)) as [ClusterNodeProcess, ClusterNodeProcess, ClusterNodeProcess]
    const watching: IClientOptions = { protocolVersion: 5, clientId: 'ww', clean: false, properties: { sessionExpiryInterval: 300 } }
    const watcher = await connectUntilServed(scene, victim.mqttUrl, watching, 10_000)
    await watcher.client.subscribeAsync('will/#', { qos: 2 })
    const gone = await connectUntilServed(scene, willNode.mqttUrl, { ...persistent('wc', 'will/wc', 0), will: { topic: 'will/wc', payload: Buffer.from('wc is gone'), qos: 2, retain: false } }, 10_000)
    await routeVisible(watcher, gone.client, 'will/probe')
    await eventually('the watcher saved in etcd', async () => (await etcdKeys(next, '/fluxmq/fluxmq/subs/')).includes('/fluxmq/fluxmq/subs/ww'), 5_000)

    // The watcher's node dies, and the will client's connection drops while its node knows the
    // dead one is unreachable (its circuit breaker open): the will cannot reach the watcher's node.
    // (One sent to it just before that is in doubt: it may have been applied there, so it is not
    // sent again.)
    killNode(victim)
    watcher.client.end(true)
    await eventually('the dead node’s circuit breaker open', () => willNode.process.lines.some((line) => line.msg === 'circuit breaker open' && line['peer'] === victim.nodeId), 10_000)
    await dropConnection(gone.client)
    const back = await connectUntilServed(scene, next.mqttUrl, watching, LEASE_TTL_MS * 4)
    expect(back.connack.sessionPresent).toBe(true)
    const alive = [willNode, next]
    await eventually('the will at the watcher on its new node', () => back.inbox.messages.some((m) => m.topic === 'will/wc'), 20_000).catch(
      withLogTrail(alive, /will|unattended|resumes|taken over|refused/),
    )
    expect(willNode.process.lines.some((line) => line.msg?.startsWith('unattended publish refused by nodes that do not have it') === true)).toBe(true)
    expect(logged(alive, 'unattended publish a node refused given to a session that came from there', 'ww')).toBe(1)
    // Once: the resends that follow give it to nobody again.
    await sleep(8_000)
    expect(back.inbox.messages.filter((m) => m.topic === 'will/wc').map((m) => m.payload.toString())).toEqual(['wc is gone'])
    await closeClient(back.client)
  }, 120_000)
})

describe('leader death, then etcd quorum loss (3 nodes)', () => {
  const scene = sceneForTests()

  it('a new leader publishes the dead leader’s wills once and sweeps its expired sessions; without quorum nodes refuse new sessions and recover by themselves', async () => {
    const { leader, others: [a, b] } = await startLedCluster(scene)
    const q1 = await scene.client(leader.mqttUrl, persistent('q1', 'will/q1', 1))
    const q2 = await scene.client(leader.mqttUrl, { protocolVersion: 5, clientId: 'q2', clean: false, properties: { sessionExpiryInterval: 2 } })
    await q2.client.subscribeAsync('q2/#', { qos: 1 })
    const watcher = await scene.client(a.mqttUrl, { protocolVersion: 5, clientId: 'lw' })
    await watcher.client.subscribeAsync('will/#', { qos: 1 })
    await eventually('q1 and q2 saved in etcd', async () => (await etcdKeys(a, '/fluxmq/fluxmq/subs/')).length === 2, 5_000)
    await eventually('q1’s will in etcd', async () => (await etcdKeys(a, '/fluxmq/fluxmq/wills/')).length === 1, 5_000)

    const killedAt = performance.now()
    killNode(leader)
    q1.client.end(true)
    q2.client.end(true)
    let newLeader: string | null = null
    await eventually('a new leader', async () => {
      newLeader = (await view(a)).leader
      return newLeader !== null && newLeader !== leader.nodeId
    }, LEASE_TTL_MS * 3)
    const electedMs = performance.now() - killedAt
    expect(electedMs).toBeLessThan(LEASE_TTL_MS * 2 + 2_000)
    expect([a.nodeId, b.nodeId]).toContain(newLeader)
    await eventually('q1’s will', () => watcher.inbox.messages.some((m) => m.topic === 'will/q1'), LEASE_TTL_MS * 3).catch(withLogTrail([a, b], WILL_TRAIL))
    const willMs = performance.now() - killedAt
    // q2 expired 2 s after the death without coming back: the new leader deleted what it saved
    // (swept, or expired as the session it adopted).
    await eventually('q2 swept', async () => !(await etcdKeys(a, '/fluxmq/fluxmq/subs/')).includes('/fluxmq/fluxmq/subs/q2'), LEASE_TTL_MS * 3)
    await sleep(2_000)
    expect(watcher.inbox.messages.filter((m) => m.topic === 'will/q1')).toHaveLength(1)
    expect(logged([a, b], 'will of a dead node published', 'q1')).toBe(1)
    expect(logged([a, b], 'session of a dead node expired, its subscriptions deleted', 'q2') + logged([a, b], 'session expired', 'q2')).toBe(1)
    console.log(`leader death: new leader after ${Math.round(electedMs)} ms, its will delivered after ${Math.round(willMs)} ms`)
    await closeClient(watcher.client)

    // Two of three members are gone now (the dead leader's and b's, frozen): no quorum.
    const held = await scene.client(a.mqttUrl, persistent('held', 'will/held', 0))
    const heldClosed = new Promise<number>((resolve) => held.client.once('close', () => resolve(performance.now())))
    const frozen = memberPid(b)
    process.kill(frozen, 'SIGSTOP')
    scene.cleanup.defer(() => {
      try {
        process.kill(frozen, 'SIGCONT')
      } catch {
        // Already gone.
      }
    })
    const frozenAt = performance.now()
    await eventually(`${a.nodeId} not ready without quorum`, async () => (await readyStatus(a)) === 503, LEASE_TTL_MS * 2)
    const notReadyMs = performance.now() - frozenAt
    // New sessions are refused cleanly: 0x88 Server unavailable (v5), return code 3 (3.1.1).
    await expect(openClient(a.mqttUrl, { protocolVersion: 5, clientId: 'late5' })).rejects.toMatchObject({ code: 0x88 })
    await expect(openClient(a.mqttUrl, { protocolVersion: 4, clientId: 'late4' })).rejects.toMatchObject({ code: 3 })
    // The session it holds is served until a fifth of the TTL before its lease could expire (no
    // sooner than 4/5 TTL after the last keepalive answered before the freeze, sent at most TTL/3
    // before it), then dropped.
    const closedAt = await heldClosed
    expect(closedAt - frozenAt).toBeGreaterThan((LEASE_TTL_MS * 4) / 5 - LEASE_TTL_MS / 3)
    expect(closedAt - frozenAt).toBeLessThan(LEASE_TTL_MS + 5_000)

    // Quorum comes back: both nodes recover by themselves and take sessions again.
    process.kill(frozen, 'SIGCONT')
    const thawedAt = performance.now()
    for (const n of [a, b]) await eventually(`${n.nodeId} ready again`, async () => (await readyStatus(n)) === 200, LEASE_TTL_MS * 4)
    const again = await connectUntilServed(scene, a.mqttUrl, persistent('held', 'will/held', 0), 15_000)
    expect(again.connack.reasonCode).toBe(0)
    console.log(
      `quorum loss: not ready after ${Math.round(notReadyMs)} ms, held session dropped after ${Math.round(closedAt - frozenAt)} ms; ` +
        `quorum back: sessions taken again after ${Math.round(performance.now() - thawedAt)} ms`,
    )
    await closeClient(again.client)

    // Quorum lost again, a node is stopped: it leaves without waiting out etcd deadlines for the
    // keys that go with its lease anyway (resign, deregister, revoke: 6.5 s here before, 1.7 s, then
    // 1 s since the leaving mark is not tried without quorum).
    process.kill(frozen, 'SIGSTOP')
    // Whichever a sees first, its lease lost or its quorum probe failing twice, the leave is quick.
    await eventually(`${a.nodeId} not ready without quorum again`, async () => (await readyStatus(a)) === 503, LEASE_TTL_MS * 2)
    const why = await readyChecks(a)
    const stoppingAt = performance.now()
    const exit = await a.process.stop('SIGTERM', 30_000)
    const stopMs = performance.now() - stoppingAt
    console.log(`shutdown without quorum (${why}): exited ${JSON.stringify(exit)} after ${Math.round(stopMs)} ms`)
    expect(a.process.lines.some((l) => l.msg.startsWith('leaving without etcd quorum'))).toBe(true)
    expect(stopMs).toBeLessThan(4_000)
  }, 200_000)
})
