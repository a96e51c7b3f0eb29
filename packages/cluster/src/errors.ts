import { FluxError, Refusal } from '@fluxmq/core'

/** Stable codes of the composed cluster; a code is never reused for another meaning. */
export const ClusterNodeErrorCode = {
  /** A peer's request arrived before the local broker attached to the cluster (start-up) or after it stopped. */
  NotReady: 'FLUXMQ_ERR_CLUSTER_NOT_READY',
  /** A route names a node this node has no transport peer for (not registered, or left). */
  NoPeer: 'FLUXMQ_ERR_CLUSTER_NO_PEER',
  /** etcd cannot confirm a read with a quorum: no session can be claimed or fenced now. */
  NoQuorum: 'FLUXMQ_ERR_CLUSTER_NO_QUORUM',
  /** A forwarded batch was routed under a lease its sender lost (its registration on it ended, or it said so). */
  StaleRouting: 'FLUXMQ_ERR_CLUSTER_STALE_ROUTING',
} as const
export type ClusterNodeErrorCode = (typeof ClusterNodeErrorCode)[keyof typeof ClusterNodeErrorCode]

/** A typed error of the composed cluster: `code` for programs, `reason` for a protocol adapter. */
export class ClusterNodeError extends FluxError<ClusterNodeErrorCode> {
  readonly reason: Refusal = Refusal.ServerUnavailable

  constructor(code: ClusterNodeErrorCode, message: string) {
    super(code, `${code}: ${message}`)
  }
}
