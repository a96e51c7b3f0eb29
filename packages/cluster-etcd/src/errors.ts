import { FluxError, Refusal } from '@fluxmq/core'

/** Stable codes of the metadata plane; a code is never reused for another meaning. */
export const ClusterErrorCode = {
  /** The etcd binary cannot be started, or the member did not become healthy in time. */
  EtcdStart: 'FLUXMQ_ERR_CLUSTER_ETCD_START',
  /** etcd did not answer (unreachable, no quorum, deadline passed). */
  EtcdUnavailable: 'FLUXMQ_ERR_CLUSTER_ETCD_UNAVAILABLE',
  /** The node holds no live lease, so it cannot write leased keys or prove ownership. */
  LeaseLost: 'FLUXMQ_ERR_CLUSTER_LEASE_LOST',
  /** Another claim for the same session won the race every time we tried. */
  ClaimConflict: 'FLUXMQ_ERR_CLUSTER_CLAIM_CONFLICT',
  /** A write guarded by a session epoch found a newer owner: this node is fenced off. */
  Fenced: 'FLUXMQ_ERR_CLUSTER_FENCED',
  /** A key or value in etcd does not have the shape this build writes. */
  BadRecord: 'FLUXMQ_ERR_CLUSTER_BAD_RECORD',
  /** Used after stop()/close(). */
  Closed: 'FLUXMQ_ERR_CLUSTER_CLOSED',
} as const
export type ClusterErrorCode = (typeof ClusterErrorCode)[keyof typeof ClusterErrorCode]

/** A typed metadata-plane error: `code` for programs, `reason` for what a protocol adapter answers. */
export class ClusterError extends FluxError<ClusterErrorCode> {
  /** What a protocol adapter answers when this error ends an operation. */
  readonly reason: Refusal

  constructor(code: ClusterErrorCode, message: string, options: { readonly cause?: unknown; readonly reason?: Refusal } = {}) {
    super(code, `${code}: ${message}`, options)
    // Without etcd the node cannot prove what it owns: the honest answer to a client is "unavailable".
    this.reason = options.reason ?? Refusal.ServerUnavailable
  }
}

/** The text of whatever was thrown, for messages that must name the reason. */
export function describeCause(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause)
}
