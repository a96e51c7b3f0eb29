import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from '@fluxmq/core'
import { EtcdMember, connectEtcd, type EtcdConnection } from '@fluxmq/cluster-etcd'
import type { Cleanup } from '@fluxmq/testing'

export const silent: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, child: () => silent }

export interface TestEtcd {
  readonly member: EtcdMember
  /** A client of the member in the namespace of `clusterName`; closed by the cleanup. */
  connect(clusterName: string): EtcdConnection
}

/** One real etcd member on loopback in a temp dir, stopped by `cleanup`. */
export async function startEtcd(cleanup: Cleanup): Promise<TestEtcd> {
  const servers = await Promise.all(
    [0, 1].map(() => new Promise<Server>((resolve) => { const s = createServer(); s.listen(0, '127.0.0.1', () => resolve(s)) })),
  )
  const [client, peer] = servers.map((server) => (server.address() as { port: number }).port)
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))))
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
  return {
    member,
    connect: (clusterName) => {
      const connection = connectEtcd(clusterName, { endpoints: [member.clientUrl] })
      cleanup.defer(() => connection.close())
      return connection
    },
  }
}

/** Polls `check` every 20 ms; throws naming `what` after `timeoutMs`. */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}
