import { readFileSync } from 'node:fs'
import { Etcd3, type Namespace } from 'etcd3'
import { clusterPrefix } from './keyspace.js'

export interface EtcdClientOptions {
  /** `http://127.0.0.1:2379` style URLs; https ones need `tls`. */
  readonly endpoints: readonly string[]
  /** Deadline of every unary call (get, put, txn, lease grant); streams (watch, keepalive) have none. */
  readonly callTimeoutMs?: number
  readonly tls?: { readonly caFile: string; readonly certFile?: string; readonly keyFile?: string }
}

/** The connection to etcd and the cluster's namespace in it; every module takes the namespace. */
export interface EtcdConnection {
  readonly client: Etcd3
  readonly namespace: Namespace
  close(): void
}

export function connectEtcd(clusterName: string, options: EtcdClientOptions): EtcdConnection {
  const callTimeoutMs = options.callTimeoutMs ?? 5_000
  const tls = options.tls
  const client = new Etcd3({
    hosts: [...options.endpoints],
    // A call into an unreachable cluster must fail in bounded time so leases and claims can react;
    // streams stay open without a deadline and reconnect on their own.
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
    ...(tls === undefined
      ? {}
      : {
          credentials: {
            rootCertificate: readFileSync(tls.caFile),
            ...(tls.certFile === undefined ? {} : { certChain: readFileSync(tls.certFile) }),
            ...(tls.keyFile === undefined ? {} : { privateKey: readFileSync(tls.keyFile) }),
          },
        }),
  })
  return { client, namespace: client.namespace(clusterPrefix(clusterName)), close: () => client.close() }
}
