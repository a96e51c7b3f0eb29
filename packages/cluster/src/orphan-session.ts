import type { TransferredSession } from '@fluxmq/core'
import type { SavedSessionEntry } from '@fluxmq/cluster-etcd'

/**
 * The state a session claimed under `epoch` resumes with when its previous owner is gone (its
 * node died, or this node lost its lease): the subscriptions saved in etcd (`saved`, read with
 * the claim), nothing in flight and nothing queued (those lived on the dead node). Undefined when
 * nothing was saved or what was saved is not older than the claim.
 */
export function orphanSession(saved: SavedSessionEntry | undefined, clientId: string, epoch: number): TransferredSession | undefined {
  if (saved === undefined || saved.epoch >= epoch) return undefined
  return {
    session: { clientId, protocol: saved.protocol, expiryInterval: saved.expiryInterval, disconnectedAt: Date.now(), epoch: saved.epoch },
    subscriptions: saved.subscriptions,
    inflight: [],
    incomingQos2: [],
    offline: [],
  }
}
