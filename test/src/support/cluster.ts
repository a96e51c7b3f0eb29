import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { beforeAll } from 'vitest'
import type { IClientOptions, MqttClient } from 'mqtt'
import { freePorts, setArgs, withTimeout, type OpenedClient, type StartedFluxmq } from '@fluxmq/testing'
import { type Scene, sceneForTests } from './fluxmq.js'

export interface ClusterNodeProcess extends StartedFluxmq {
  readonly nodeId: string
  /** host:port of its embedded etcd member's client listener. */
  readonly etcdClientAddr: string
  /** Its embedded etcd member's data dir (the member's pid file is there). */
  readonly etcdDataDir: string
  /** Its command line, to start it again on the same data (`restartNode`). */
  readonly args: readonly string[]
}

/** What `/api/v1/cluster` answers on a clustered node. */
interface ClusterView {
  readonly enabled: boolean
  readonly nodes: readonly string[]
  readonly peers: readonly { readonly peer: string; readonly breaker: string }[]
}

async function getJson<T>(url: string): Promise<{ status: number; body: T }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(2_000) })
  return { status: response.status, body: (await response.json()) as T }
}

/** Polls `check` every 50 ms until it is true; throws naming `what` after `timeoutMs`. */
export async function eventually(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      if (await check()) return
    } catch {
      // Not up yet: retried until the deadline.
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(50)
  }
}

/** `[key, range_end]` of every key under `prefix`, base64 as etcd's JSON gateway takes them. */
function prefixRange(prefix: string): { key: string; range_end: string } {
  const end = Buffer.from(prefix)
  end[end.length - 1] = (end[end.length - 1] as number) + 1
  return { key: Buffer.from(prefix).toString('base64'), range_end: end.toString('base64') }
}

async function etcdRange(member: ClusterNodeProcess, body: object): Promise<{ key: string; value?: string }[]> {
  const response = await fetch(`http://${member.etcdClientAddr}/v3/kv/range`, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(2_000) })
  return ((await response.json()) as { kvs?: { key: string; value?: string }[] }).kvs ?? []
}

/** Keys under a prefix, read from a live member over etcd's JSON gateway. */
export async function etcdKeys(member: ClusterNodeProcess, prefix: string): Promise<string[]> {
  return (await etcdRange(member, { ...prefixRange(prefix), keys_only: true })).map((kv) => Buffer.from(kv.key, 'base64').toString('utf8'))
}

/** The value of one key (undefined when absent), read from a live member over etcd's JSON gateway. */
export async function etcdValue(member: ClusterNodeProcess, key: string): Promise<Buffer | undefined> {
  const [kv] = await etcdRange(member, { key: Buffer.from(key).toString('base64') })
  return kv?.value === undefined ? undefined : Buffer.from(kv.value, 'base64')
}

/** Log lines that explain a will's fate: wills, leases, ownership, membership, elections. */
export const WILL_TRAIL = /will|lease|ownership|node gone|stored sessions claimed|cluster joined|elected|leader/

/** Rethrows `error` with the log lines of `nodes` whose message matches `telling`, so a failed wait explains itself. */
export function withLogTrail(nodes: readonly ClusterNodeProcess[], telling: RegExp): (error: unknown) => never {
  return (error) => {
    const trail = nodes.flatMap((node) => node.process.lines.filter((line) => telling.test(String(line.msg))).map((line) => `${node.nodeId} ${JSON.stringify(line)}`))
    throw new Error(`${String(error)}\n${trail.join('\n')}`)
  }
}

/**
 * `size` real fluxmq processes on loopback, each with its own embedded etcd member, the members
 * forming one etcd cluster. Resolves once every node answers /ready 200 and sees every other node
 * as a transport peer. Cleanup stops each node with SIGTERM (a clean leave stops its member) and
 * SIGKILLs a member that outlived its broker (its pid file), so no etcd is left running.
 */
export async function startCluster(scene: Scene, size: number, extraArgs: readonly string[] = []): Promise<ClusterNodeProcess[]> {
  const ports = await freePorts(size * 3)
  const base = scene.tempDir()
  const ids = Array.from({ length: size }, (_, i) => `n${i + 1}`)
  const peerPort = (i: number) => ports[size + i] as number
  const initialCluster = ids.map((id, i) => `${id}=http://127.0.0.1:${peerPort(i)}`).join(',')
  const nodes = await Promise.all(
    ids.map(async (nodeId, i) => {
      const dataDir = join(base, nodeId)
      scene.cleanup.defer(() => killOrphanMember(join(dataDir, 'etcd')))
      const args = [
        ...setArgs({
          'cluster.enabled': true,
          'cluster.node_id': nodeId,
          'cluster.etcd.data_dir': join(dataDir, 'etcd'),
          'cluster.etcd.client_addr': `127.0.0.1:${ports[i] as number}`,
          'cluster.etcd.peer_addr': `127.0.0.1:${peerPort(i)}`,
          'cluster.etcd.initial_cluster': initialCluster,
          'cluster.etcd.lease_ttl': '5s',
          'cluster.transport.addr': `127.0.0.1:${ports[2 * size + i] as number}`,
          'storage.dir': join(dataDir, 'storage'),
        }),
        ...extraArgs,
      ]
      const started = await scene.broker(args, { startTimeoutMs: 60_000 })
      scene.cleanup.defer(() => started.process.stop('SIGTERM', 10_000))
      return { ...started, nodeId, etcdClientAddr: `127.0.0.1:${ports[i] as number}`, etcdDataDir: join(dataDir, 'etcd'), args }
    }),
  )
  for (const node of nodes) await untilJoined(node, size)
  return nodes
}

/** A cluster the tests of the enclosing describe block (or file) share. */
export interface SharedCluster {
  readonly scene: Scene
  /** Its nodes, once the first test runs. */
  readonly nodes: readonly ClusterNodeProcess[]
  /** Node `i` (n`i+1`). */
  node(i: number): ClusterNodeProcess
}

/** `startCluster` before the first test of the enclosing describe block (or file); its scene is cleaned up after the last. */
export function clusterForTests(size: number, extraArgs: readonly string[] = []): SharedCluster {
  const scene = sceneForTests()
  let nodes: ClusterNodeProcess[] = []
  beforeAll(async () => {
    nodes = await startCluster(scene, size, extraArgs)
  }, 120_000)
  return {
    scene,
    get nodes() {
      return nodes
    },
    node: (i) => {
      const node = nodes[i]
      if (node === undefined) throw new Error(`no node ${i} in a cluster of ${nodes.length}`)
      return node
    },
  }
}

/**
 * CONNECTs to `url` until one is accepted: a node refuses new sessions while a dead previous
 * owner's lease lives, and while etcd elects a leader after a member died.
 */
export async function connectUntilServed(scene: Scene, url: string, options: IClientOptions, timeoutMs: number): Promise<OpenedClient> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      return await scene.client(url, options)
    } catch (error) {
      if (Date.now() > deadline) throw error
      await sleep(200)
    }
  }
}

/**
 * Publishes QoS 0 probes to `topic` from `publisher` until `subscriber` got one: the route of the
 * subscriber's node reached the publisher's node. Resolves with the milliseconds it took.
 */
export async function routeVisible(subscriber: OpenedClient, publisher: MqttClient, topic: string, timeoutMs = 10_000): Promise<number> {
  const started = performance.now()
  await eventually(
    `a probe on ${topic}`,
    async () => {
      if (subscriber.inbox.messages.some((m) => m.topic === topic)) return true
      // Bounded: a publisher whose connection was closed would never settle.
      await withTimeout(publisher.publishAsync(topic, 'probe', { qos: 0 }), 2_000, `a probe on ${topic} written`)
      return false
    },
    timeoutMs,
  )
  return performance.now() - started
}

/**
 * Starts a node of `startCluster` again on its data dirs (broker storage and etcd member) after it
 * died; resolves once it is ready and sees `size` nodes.
 */
export async function restartNode(scene: Scene, node: ClusterNodeProcess, size: number): Promise<ClusterNodeProcess> {
  const started = await scene.broker(node.args, { startTimeoutMs: 60_000 })
  scene.cleanup.defer(() => started.process.stop('SIGTERM', 10_000))
  const restarted = { ...node, ...started }
  await untilJoined(restarted, size)
  return restarted
}

/**
 * One more node that joins a running cluster as a client of its etcd (`cluster.etcd.embedded:
 * false`, `endpoints`), with memory storage. Resolves once it is ready and sees `size` nodes.
 */
export async function joinNode(scene: Scene, nodeId: string, endpoints: readonly string[], size: number): Promise<StartedFluxmq> {
  const started = await scene.broker(
    setArgs({
      'cluster.enabled': true,
      'cluster.node_id': nodeId,
      'cluster.etcd.embedded': false,
      'cluster.etcd.endpoints': endpoints.join(','),
      'cluster.etcd.lease_ttl': '5s',
      'cluster.transport.addr': '127.0.0.1:0',
    }),
    { startTimeoutMs: 60_000 },
  )
  scene.cleanup.defer(() => started.process.stop('SIGTERM', 10_000))
  await untilJoined({ ...started, nodeId }, size)
  return started
}

async function untilJoined(node: StartedFluxmq & { readonly nodeId: string }, size: number): Promise<void> {
  await eventually(`${node.nodeId} /ready`, async () => (await fetch(`${node.httpUrl}/ready`, { signal: AbortSignal.timeout(2_000) })).status === 200, 30_000)
  await eventually(
    `${node.nodeId} to see every node as a peer`,
    async () => {
      const { body } = await getJson<ClusterView>(`${node.httpUrl}/api/v1/cluster`)
      return body.nodes.length === size && body.peers.length === size - 1 && body.peers.every((peer) => peer.breaker === 'closed')
    },
    30_000,
  )
}

/** The machine dies: the broker and its etcd member, both SIGKILLed. */
export function killNode(node: ClusterNodeProcess): void {
  node.process.signal('SIGKILL')
  killOrphanMember(node.etcdDataDir)
}

export function killOrphanMember(etcdDataDir: string): void {
  let pid: number
  try {
    pid = Number(readFileSync(join(etcdDataDir, 'fluxmq-etcd.pid'), 'utf8').trim())
  } catch {
    return
  }
  try {
    process.kill(pid, 'SIGKILL')
  } catch {
    // Already gone: the broker stopped it.
  }
}
