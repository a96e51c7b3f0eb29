import { readFileSync } from 'node:fs'
import { ConsecutiveBreaker, circuitBreaker, handleWhen, retry } from 'cockatiel'
import { Etcd3, GRPCDeadlineExceededError, isRecoverableError, type Namespace } from 'etcd3'
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
    faultHandling: {
      // etcd3's defaults, but for a deadline: the caller's bound, not a sign of a dead member.
      // Retried, each attempt got a fresh deadline (a call held unanswered failed after three of
      // them, and a transaction went three times); counted, three opened the member's breaker and
      // every call of this node failed at once for 5 s (its only member, when embedded).
      host: () => circuitBreaker(handleWhen(notDeadline), { halfOpenAfter: 5_000, breaker: new ConsecutiveBreaker(3) }),
      global: retry(handleWhen(notDeadline), { maxAttempts: 3 }),
    },
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

/** A recoverable etcd error other than a passed call deadline. */
function notDeadline(error: Error): boolean {
  return isRecoverableError(error) && !(error instanceof GRPCDeadlineExceededError)
}
