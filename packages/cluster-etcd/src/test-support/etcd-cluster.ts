import { join } from 'node:path'
import { type Cleanup, freePorts, RecordingLogger } from '@fluxmq/testing'
import { type EtcdConnection, connectEtcd } from '../client.js'
import { EtcdMember, type EtcdMemberTls } from '../etcd-member.js'

export interface TestEtcdCluster {
  readonly members: EtcdMember[]
  readonly endpoints: string[]
  readonly logger: RecordingLogger
  /** A namespaced client on the cluster; closed by the cleanup. */
  connect(clusterName: string, endpoints?: readonly string[]): EtcdConnection
}

/** A real etcd cluster of `size` members on loopback, in temp dirs, stopped by `cleanup`. */
export async function startEtcdCluster(cleanup: Cleanup, size: number, options: { tls?: EtcdMemberTls } = {}): Promise<TestEtcdCluster> {
  const ports = await freePorts(size * 2)
  const base = cleanup.tempDir('fluxmq-etcd-')
  const logger = new RecordingLogger()
  const scheme = options.tls === undefined ? 'http' : 'https'
  const names = Array.from({ length: size }, (_, i) => `m${i + 1}`)
  const initialCluster = names.map((name, i) => `${name}=${scheme}://127.0.0.1:${ports[size + i]}`).join(',')
  const members = names.map(
    (name, i) =>
      new EtcdMember({
        binary: process.env.FLUXMQ_TEST_ETCD ?? 'etcd',
        name,
        dataDir: join(base, name),
        clientAddr: `127.0.0.1:${ports[i]}`,
        peerAddr: `127.0.0.1:${ports[size + i]}`,
        initialCluster: size === 1 ? '' : initialCluster,
        logger,
        stopGraceMs: 5_000,
        ...(options.tls === undefined ? {} : { tls: options.tls }),
      }),
  )
  for (const member of members) cleanup.defer(() => member.stop())
  await Promise.all(members.map((member) => member.start()))
  const endpoints = members.map((member) => member.clientUrl)
  return {
    members,
    endpoints,
    logger,
    connect(clusterName, only = endpoints) {
      const tls = options.tls
      return cleanup.add(connectEtcd(clusterName, { endpoints: only, callTimeoutMs: 2_000, ...(tls === undefined ? {} : { tls }) }), (connection) =>
        connection.close(),
      )
    },
  }
}
