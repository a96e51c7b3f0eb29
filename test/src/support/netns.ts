import { execFileSync, spawn } from 'node:child_process'
import { join } from 'node:path'
import { FluxmqProcess, LOOPBACK_ARGS, setArgs } from '@fluxmq/testing'
import { eventually, killOrphanMember } from './cluster.js'
import { FLUXMQ_BIN, type Scene } from './fluxmq.js'

/**
 * A cluster whose nodes each live in their own network namespace (`ip netns`, root only), so that
 * one node can be cut off from the others and from etcd while the test still talks to it.
 *
 * Every node's namespace has two links, both virtual and local to this machine:
 * - a cluster link (veth) into a bridge shared by the nodes: etcd peer and client traffic and the
 *   cluster transport use it. Setting its host end down isolates the node, and its embedded etcd
 *   member with it, from the rest of the cluster.
 * - a client link (veth) into a second bridge that holds the test's address: the test's MQTT and
 *   HTTP traffic uses it and is never cut.
 * Inside its namespace each node uses the default ports; namespaces keep them apart.
 */
export interface NetnsNode {
  readonly nodeId: string
  /** The current broker process (a new one after `restart`). */
  readonly process: FluxmqProcess
  readonly mqttUrl: string
  readonly httpUrl: string
  /** Cuts the node's cluster link (the node and its etcd member see nobody else). */
  isolate(): void
  heal(): void
  /** The machine dies: the broker and its embedded etcd member, both SIGKILLed. */
  kill(): void
  /** Starts the broker again in its namespace on the same data dirs, once the previous one exited; resolves once it logged its start. */
  restart(): Promise<void>
}

const MQTT_PORT = 1883
const HTTP_PORT = 8081

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] })
}

/** Whether this process may create network namespaces (root with CAP_NET_ADMIN). */
export function netnsAvailable(): boolean {
  const probe = `fmqprobe${process.pid}`
  try {
    ip('netns', 'add', probe)
    ip('netns', 'del', probe)
    return true
  } catch {
    return false
  }
}

let clustersMade = 0

export async function startNetnsCluster(scene: Scene, size: number, extraArgs: readonly string[] = []): Promise<NetnsNode[]> {
  // Names are per test process and cluster (a file may start several before its cleanup runs):
  // interface names have at most 15 characters.
  const made = clustersMade++
  const tag = (process.pid % 100_000).toString(36) + made.toString(36)
  const subnet = (process.pid + made) % 250
  const clusterIp = (i: number) => `10.231.${subnet}.${11 + i}`
  const clientIp = (i: number) => `10.232.${subnet}.${11 + i}`
  const clusterBridge = `fqb${tag}c`
  const clientBridge = `fqb${tag}x`
  const nsName = (i: number) => `fmq${tag}n${i + 1}`

  scene.cleanup.defer(() => {
    for (let i = 0; i < size; i++) {
      try {
        ip('netns', 'del', nsName(i))
      } catch {
        // Not created.
      }
    }
    for (const bridge of [clusterBridge, clientBridge]) {
      try {
        ip('link', 'del', bridge)
      } catch {
        // Not created.
      }
    }
  })
  ip('link', 'add', clusterBridge, 'type', 'bridge')
  ip('link', 'set', clusterBridge, 'up')
  ip('link', 'add', clientBridge, 'type', 'bridge')
  ip('addr', 'add', `10.232.${subnet}.1/24`, 'dev', clientBridge)
  ip('link', 'set', clientBridge, 'up')
  for (let i = 0; i < size; i++) {
    const ns = nsName(i)
    ip('netns', 'add', ns)
    ip('-n', ns, 'link', 'set', 'lo', 'up')
    for (const [kind, bridge, address] of [
      ['c', clusterBridge, clusterIp(i)],
      ['x', clientBridge, clientIp(i)],
    ] as const) {
      const host = `fq${tag}${kind}${i + 1}`
      ip('link', 'add', host, 'type', 'veth', 'peer', 'name', `${kind}0`, 'netns', ns)
      ip('link', 'set', host, 'master', bridge)
      ip('link', 'set', host, 'up')
      ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', `${kind}0`)
      ip('-n', ns, 'link', 'set', `${kind}0`, 'up')
    }
  }

  const ids = Array.from({ length: size }, (_, i) => `n${i + 1}`)
  const initialCluster = ids.map((id, i) => `${id}=http://${clusterIp(i)}:2380`).join(',')
  const base = scene.tempDir()
  const nodes = ids.map((nodeId, i): NetnsNode => {
    const dataDir = join(base, nodeId)
    scene.cleanup.defer(() => killOrphanMember(join(dataDir, 'etcd')))
    const args = [
      ...LOOPBACK_ARGS,
      ...setArgs({
        'server.mqtt.tcp.addr': `0.0.0.0:${MQTT_PORT}`,
        'server.http.addr': `0.0.0.0:${HTTP_PORT}`,
        'cluster.enabled': true,
        'cluster.node_id': nodeId,
        'cluster.etcd.data_dir': join(dataDir, 'etcd'),
        'cluster.etcd.client_addr': `${clusterIp(i)}:2379`,
        'cluster.etcd.peer_addr': `${clusterIp(i)}:2380`,
        'cluster.etcd.initial_cluster': initialCluster,
        'cluster.etcd.lease_ttl': '5s',
        'cluster.transport.addr': `${clusterIp(i)}:7948`,
        'cluster.transport.advertise_addr': `${clusterIp(i)}:7948`,
        'storage.dir': join(dataDir, 'storage'),
      }),
      ...extraArgs,
    ]
    // `ip netns exec` execs the command: the child's pid is the broker's, signals reach it.
    const spawnBroker = (): FluxmqProcess => {
      const child = spawn('ip', ['netns', 'exec', nsName(i), process.execPath, FLUXMQ_BIN, ...args], {
        env: { PATH: process.env.PATH ?? '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      const fluxmq = new FluxmqProcess(child)
      scene.cleanup.defer(() => fluxmq.stop('SIGKILL'))
      return fluxmq
    }
    let current = spawnBroker()
    const link = `fq${tag}c${i + 1}`
    return {
      nodeId,
      get process() {
        return current
      },
      mqttUrl: `mqtt://${clientIp(i)}:${MQTT_PORT}`,
      httpUrl: `http://${clientIp(i)}:${HTTP_PORT}`,
      isolate: () => ip('link', 'set', link, 'down'),
      heal: () => ip('link', 'set', link, 'up'),
      kill: () => {
        current.signal('SIGKILL')
        killOrphanMember(join(dataDir, 'etcd'))
      },
      restart: async () => {
        await current.exited
        current = spawnBroker()
        await current.waitForLog('fluxmq started', 60_000)
      },
    }
  })
  for (const node of nodes) await node.process.waitForLog('fluxmq started', 60_000)
  for (const node of nodes) {
    await eventually(
      `${node.nodeId} ready with every node as a peer`,
      async () => {
        if ((await fetch(`${node.httpUrl}/ready`, { signal: AbortSignal.timeout(2_000) })).status !== 200) return false
        const view = (await (await fetch(`${node.httpUrl}/api/v1/cluster`, { signal: AbortSignal.timeout(2_000) })).json()) as { nodes: string[]; peers: { breaker: string }[] }
        return view.nodes.length === size && view.peers.length === size - 1 && view.peers.every((p) => p.breaker === 'closed')
      },
      60_000,
    )
  }
  return nodes
}
