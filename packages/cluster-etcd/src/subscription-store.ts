import { Refusal } from '@fluxmq/core'
import type { Namespace } from 'etcd3'
import { ClusterError, ClusterErrorCode, describeCause } from './errors.js'
import { SUBS, parseLeafKey, sessionKey, subsKey } from './keyspace.js'
import { parseSavedSession, type SavedSession, type SavedSessionEntry } from './saved-session.js'
import type { SessionOwnership } from './session-ownership.js'

export type { SavedSession, SavedSessionEntry } from './saved-session.js'

/**
 * A session's subscriptions in `subs/<client>`, so that a session whose node died can be resumed
 * on any node. Not leased (it must outlive the owner), and every write is fenced: it commits in
 * the same transaction as a check that this node still owns the session at its epoch, so a node
 * that lost the session cannot overwrite what its successor saved. The value also names the
 * writer and its epoch, so the leader knows whose node died and a resuming node knows the state
 * is older than its own claim.
 */
export class SubscriptionStore {
  constructor(
    private readonly etcd: Namespace,
    private readonly ownership: SessionOwnership,
    private readonly nodeId: string,
  ) {}

  /** Replaces the saved session; rejects with Fenced when this node no longer owns it at `epoch`. */
  async save(clientId: string, epoch: number, session: SavedSession): Promise<void> {
    const value = JSON.stringify({ node: this.nodeId, epoch, protocol: session.protocol, expiryInterval: session.expiryInterval, subscriptions: session.subscriptions })
    const put = this.etcd.put(subsKey(clientId)).value(value)
    await this.fencedWrite(clientId, epoch, 'save', () => this.ownership.fenced(clientId, epoch).then(put).commit())
  }

  /** Deletes it when the session ends (clean start, expiry); fenced like save(). */
  async remove(clientId: string, epoch: number): Promise<void> {
    const del = this.etcd.delete().key(subsKey(clientId))
    await this.fencedWrite(clientId, epoch, 'remove', () => this.ownership.fenced(clientId, epoch).then(del).commit())
  }

  /** The saved session, or undefined when none was saved. */
  async load(clientId: string): Promise<SavedSessionEntry | undefined> {
    const res = await this.call(`subscriptions of ${clientId} not read`, () => this.etcd.get(subsKey(clientId)).exec())
    const kv = res.kvs[0]
    return kv === undefined ? undefined : parseSavedSession(clientId, kv.value, kv.mod_revision)
  }

  /** Every saved session (the leader's sweep); records of an unknown shape are skipped. */
  async all(): Promise<Map<string, SavedSessionEntry>> {
    const res = await this.call('saved sessions not read', () => this.etcd.getAll().prefix(SUBS).exec())
    const saved = new Map<string, SavedSessionEntry>()
    for (const kv of res.kvs) {
      const clientId = parseLeafKey(SUBS, kv.key.toString())
      if (clientId === undefined) continue
      try {
        saved.set(clientId, parseSavedSession(clientId, kv.value, kv.mod_revision))
      } catch {
        // Not written by this build: left alone.
      }
    }
    return saved
  }

  /**
   * Deletes a saved session nobody owns (its node died and it expired): only if it is unchanged
   * since `modRevision`, no node claimed the session meanwhile, and `leaderTerm` still holds the
   * seat. False when one of those changed.
   */
  async sweep(clientId: string, modRevision: string, leaderTerm: { readonly key: string; readonly createRevision: string }): Promise<boolean> {
    const res = await this.call(`sweep of ${clientId} failed`, () =>
      this.etcd
        .if(subsKey(clientId), 'Mod', '==', modRevision)
        .and(sessionKey(clientId), 'Create', '==', 0)
        .and(leaderTerm.key, 'Create', '==', leaderTerm.createRevision)
        .then(this.etcd.delete().key(subsKey(clientId)))
        .commit(),
    )
    return res.succeeded
  }

  private async call<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run()
    } catch (error) {
      throw new ClusterError(ClusterErrorCode.EtcdUnavailable, `${what}: ${describeCause(error)}`, { cause: error })
    }
  }

  private async fencedWrite(clientId: string, epoch: number, what: string, commit: () => Promise<{ succeeded: boolean }>): Promise<void> {
    const res = await this.call(`subscriptions ${what} for ${clientId} failed`, commit)
    if (!res.succeeded) {
      throw new ClusterError(ClusterErrorCode.Fenced, `subscriptions ${what} for ${clientId} refused: not the owner at epoch ${epoch}`, { reason: Refusal.SessionTakenOver })
    }
  }
}
