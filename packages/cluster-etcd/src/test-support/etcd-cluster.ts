import { createServer } from 'node:net'
import { join } from 'node:path'
import { type Cleanup, RecordingLogger } from '@fluxmq/testing'
import { type EtcdConnection, connectEtcd } from '../client.js'
import { EtcdMember, type EtcdMemberTls } from '../etcd-member.js'

/** Ports the OS just handed out (held together, so no two are equal, then released for etcd). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => {
      const server = createServer()
      return new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
        server.once('error', reject)
        server.listen(0, '127.0.0.1', () => resolve(server))
      })
    }),
  )
  const ports = servers.map((server) => {
    const address = server.address()
    if (address === null || typeof address === 'string') throw new Error('no port')
    return address.port
  })
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))))
  return ports
}

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
