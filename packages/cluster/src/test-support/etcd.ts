import { join } from 'node:path'
import { afterAll, beforeAll } from 'vitest'
import { EtcdMember, NodeLease, SessionOwnership, SubscriptionStore, WillIndex, connectEtcd, type EtcdConnection } from '@fluxmq/cluster-etcd'
import { type Cleanup, freePorts } from '@fluxmq/testing'
import type { ClusterNodeOptions } from '../cluster-node.js'
import { silent } from './silent.js'

/** One node's metadata in etcd, as a ClusterNode builds it, without the rest of the node. */
export interface TestNode {
  readonly nodeId: string
  readonly lease: NodeLease
  readonly ownership: SessionOwnership
  readonly store: SubscriptionStore
  readonly wills: WillIndex
}

export interface TestEtcd {
  readonly member: EtcdMember
  /** A client of the member in the namespace of `clusterName`; closed by the cleanup. */
  connect(clusterName: string): EtcdConnection
  /** A node in the namespace of `clusterName` holding a started lease (stopped by the cleanup). */
  node(clusterName: string, nodeId: string): Promise<TestNode>
}

/** One real etcd member on loopback in a temp dir, stopped by `cleanup`. */
export async function startEtcd(cleanup: Cleanup): Promise<TestEtcd> {
  const [client, peer] = await freePorts(2)
  const member = new EtcdMember({
    binary: process.env.FLUXMQ_TEST_ETCD ?? 'etcd',
    name: 'm1',
    dataDir: join(cleanup.tempDir('fluxmq-cluster-etcd-'), 'm1'),
    clientAddr: `127.0.0.1:${client}`,
    peerAddr: `127.0.0.1:${peer}`,
    initialCluster: '',
    logger: silent,
  })
  cleanup.defer(() => member.stop())
  await member.start()
  const connect = (clusterName: string): EtcdConnection => cleanup.add(connectEtcd(clusterName, { endpoints: [member.clientUrl] }), (c) => c.close())
  return {
    member,
    connect,
    node: async (clusterName, nodeId) => {
      const { namespace } = connect(clusterName)
      const lease = cleanup.add(new NodeLease(namespace, { nodeId, ttlSeconds: 5, logger: silent }), (l) => l.stop())
      await lease.start()
      const ownership = new SessionOwnership(namespace, lease, { nodeId, logger: silent })
      const wills = new WillIndex(namespace, { nodeId, logger: silent, thresholdBytes: 1024 })
      return { nodeId, lease, ownership, store: new SubscriptionStore(namespace, ownership, nodeId), wills }
    },
  }
}

/**
 * The etcd member a whole test file shares: started before its first test, stopped after its
 * last by `cleanup.run()` with everything else the file deferred. Usable inside tests only.
 */
export function etcdForFile(cleanup: Cleanup): TestEtcd {
  let started: TestEtcd | undefined
  beforeAll(async () => {
    started = await startEtcd(cleanup)
  }, 60_000)
  afterAll(() => cleanup.run(), 30_000)
  const etcd = (): TestEtcd => {
    if (started === undefined) throw new Error('the test etcd member is not started yet (use it inside a test or hook)')
    return started
  }
  return {
    get member() {
      return etcd().member
    },
    connect: (clusterName) => etcd().connect(clusterName),
    node: (clusterName, nodeId) => etcd().node(clusterName, nodeId),
  }
}

/**
 * `ClusterNodeOptions.etcd` for nodes sharing one member at 127.0.0.1:`ports.client`: the node
 * that embeds it runs it in `dataDir`, every other node is only its client.
 */
export function sharedMemberEtcd(
  ports: { readonly client: number; readonly peer: number },
  dataDir: string,
  embedded: boolean,
  retainedThresholdBytes: number,
): ClusterNodeOptions['etcd'] {
  const clientAddr = `127.0.0.1:${ports.client}`
  return {
    embedded: embedded
      ? { binary: process.env.FLUXMQ_TEST_ETCD ?? 'etcd', dataDir, clientAddr, peerAddr: `127.0.0.1:${ports.peer}`, initialCluster: '' }
      : undefined,
    endpoints: [clientAddr],
    leaseTtlMs: 5_000,
    retainedThresholdBytes,
  }
}
