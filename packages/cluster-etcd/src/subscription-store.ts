import { Refusal, type SubscriptionOptions } from '@fluxmq/core'
import type { Namespace } from 'etcd3'
import { ClusterError, ClusterErrorCode, describeCause } from './errors.js'
import { subsKey } from './keyspace.js'
import type { SessionOwnership } from './session-ownership.js'

/**
 * A session's subscriptions in `subs/<client>`, so that a session whose node died can be resumed
 * on any node. Not leased (it must outlive the owner), and every write is fenced: it commits in
 * the same transaction as a check that this node still owns the session at its epoch, so a node
 * that lost the session cannot overwrite what its successor saved.
 */
export class SubscriptionStore {
  constructor(
    private readonly etcd: Namespace,
    private readonly ownership: SessionOwnership,
  ) {}

  /** Replaces the saved subscriptions; rejects with Fenced when this node no longer owns the session at `epoch`. */
  async save(clientId: string, epoch: number, subscriptions: readonly SubscriptionOptions[]): Promise<void> {
    const put = this.etcd.put(subsKey(clientId)).value(JSON.stringify(subscriptions))
    await this.fencedWrite(clientId, epoch, 'save', () => this.ownership.fenced(clientId, epoch).then(put).commit())
  }

  /** Deletes them when the session ends (clean start, expiry); fenced like save(). */
  async remove(clientId: string, epoch: number): Promise<void> {
    const del = this.etcd.delete().key(subsKey(clientId))
    await this.fencedWrite(clientId, epoch, 'remove', () => this.ownership.fenced(clientId, epoch).then(del).commit())
  }

  /** The saved subscriptions, or undefined when none were saved. */
  async load(clientId: string): Promise<SubscriptionOptions[] | undefined> {
    let value: string | null
    try {
      value = await this.etcd.get(subsKey(clientId)).string()
    } catch (error) {
      throw new ClusterError(ClusterErrorCode.EtcdUnavailable, `subscriptions of ${clientId} not read: ${describeCause(error)}`, { cause: error })
    }
    if (value === null) return undefined
    try {
      const subscriptions = JSON.parse(value) as unknown
      if (!Array.isArray(subscriptions)) throw new Error('not a list')
      return subscriptions as SubscriptionOptions[]
    } catch (error) {
      throw new ClusterError(ClusterErrorCode.BadRecord, `subs/${clientId} is not a subscription list`, { cause: error })
    }
  }

  private async fencedWrite(clientId: string, epoch: number, what: string, commit: () => Promise<{ succeeded: boolean }>): Promise<void> {
    let res: { succeeded: boolean }
    try {
      res = await commit()
    } catch (error) {
      throw new ClusterError(ClusterErrorCode.EtcdUnavailable, `subscriptions ${what} for ${clientId} failed: ${describeCause(error)}`, { cause: error })
    }
    if (!res.succeeded) {
      throw new ClusterError(ClusterErrorCode.Fenced, `subscriptions ${what} for ${clientId} refused: not the owner at epoch ${epoch}`, { reason: Refusal.SessionTakenOver })
    }
  }
}
