import type { Logger, WillRecord } from '@fluxmq/core'
import type { ComparatorBuilder, Namespace } from 'etcd3'
import { ClusterError, ClusterErrorCode, describeCause } from './errors.js'
import { WILLS, parseLeafKey, sessionKey, willKey } from './keyspace.js'
import { type StoredMessage, decodeMessageRecord, encodeMessageRecord } from './message-record.js'

/** Wills stay inline up to this size whatever the retained threshold (SPEC §6). */
export const WILL_INLINE_LIMIT = 64 * 1024

export interface WillIndexOptions {
  readonly nodeId: string
  readonly logger: Logger
  /** `cluster.etcd.hybrid_retained_size_threshold`; wills are inline up to the larger of it and 64 KiB. */
  readonly thresholdBytes: number
}

/** A will as stored: the message (or its index entry), its delay, and the session owner that wrote it. */
export interface StoredWill {
  readonly stored: StoredMessage
  /** Will Delay Interval in seconds. */
  readonly delayInterval: number
  readonly node: string
  /** The session epoch of the owner that wrote it. */
  readonly epoch: number
  /** When the client's connection closed (ms since the epoch), if it had when the will was written: its delay runs from then. */
  readonly disconnectedAt?: number
}

/** How a will is written: fenced by its owner's epoch, and with the time its connection closed. */
export interface WillWriteOptions {
  /** SessionOwnership.fenced(client, epoch): only the session's owner writes its will. */
  readonly fence?: ComparatorBuilder
  readonly disconnectedAt?: number
}

/** A stored will with the revision it was read at (for the leader's fenced take). */
export interface StoredWillEntry extends StoredWill {
  readonly modRevision: string
}

/** The leader's seat a leader-only write is fenced by: the `leader` key and the revision that created it. */
export interface LeaderTerm {
  readonly key: string
  readonly createRevision: string
}

/**
 * Pending wills, `wills/<client>`, written by the session's owner while the client is connected.
 * Not leased: when a node dies, the leader finds its clients' wills with willsOf(node) and
 * publishes them after their delay, so they are inline up to 64 KiB (above the retained threshold
 * too) and only larger ones are index entries naming the node that holds the payload. delete()
 * only removes a will its caller wrote, so a stale owner cannot cancel its successor's will.
 */
export class WillIndex {
  private readonly inlineLimit: number
  private readonly log: Logger

  constructor(
    private readonly etcd: Namespace,
    private readonly options: WillIndexOptions,
  ) {
    this.inlineLimit = Math.max(WILL_INLINE_LIMIT, options.thresholdBytes)
    this.log = options.logger.child({ nodeId: options.nodeId })
  }

  /**
   * Writes the will; with `fence` (SessionOwnership.fenced) only while this node still owns the
   * session, so a node that lost it cannot replace its successor's will. False when fenced off.
   */
  async put(clientId: string, will: WillRecord, epoch: number, options: WillWriteOptions = {}): Promise<boolean> {
    const { fence, disconnectedAt } = options
    const extra = { delayInterval: will.delayInterval, node: this.options.nodeId, epoch, ...(disconnectedAt === undefined ? {} : { disconnectedAt }) }
    const value = encodeMessageRecord(will.message, this.inlineLimit, this.options.nodeId, extra)
    const put = this.etcd.put(willKey(clientId)).value(value)
    if (fence === undefined) {
      await this.call(clientId, 'write', () => put.exec())
      return true
    }
    const txn = await this.call(clientId, 'write', () => fence.then(put).commit())
    return txn.succeeded
  }

  async get(clientId: string): Promise<StoredWill | undefined> {
    const key = willKey(clientId)
    const value = await this.call(clientId, 'read', () => this.etcd.get(key).buffer())
    return value === null ? undefined : parseWill(value, key)
  }

  /** Removes the will if it is still the one this node wrote at `epoch`; false when it was not. */
  async delete(clientId: string, epoch: number): Promise<boolean> {
    const key = willKey(clientId)
    const res = await this.call(clientId, 'read', () => this.etcd.get(key).exec())
    const kv = res.kvs[0]
    if (kv === undefined) return false
    const will = parseWill(kv.value, key)
    if (will.node !== this.options.nodeId || will.epoch !== epoch) return false
    const txn = await this.call(clientId, 'delete', () => this.etcd.if(key, 'Mod', '==', kv.mod_revision).then(this.etcd.delete().key(key)).commit())
    return txn.succeeded
  }

  /**
   * The owner gives its client's will up before it publishes it: `wills/<client>` is deleted (if
   * the mirror wrote it at all) in one transaction fenced by the session's ownership (`fence`,
   * SessionOwnership.fenced). True: this node still owned the session, and no leader can find the
   * will any more. False: another node owns the session now (a leader that saw this node die
   * adopted it and publishes the will itself).
   */
  async giveUp(clientId: string, fence: ComparatorBuilder): Promise<boolean> {
    const txn = await this.call(clientId, 'give-up', () => fence.then(this.etcd.delete().key(willKey(clientId))).commit())
    return txn.succeeded
  }

  /** Every will written by `nodeId` (the wills of a dead node, for the leader to publish). */
  async willsOf(nodeId: string): Promise<Map<string, StoredWill>> {
    const all = await this.call(nodeId, 'scan', () => this.etcd.getAll().prefix(WILLS).exec())
    const wills = new Map<string, StoredWill>()
    for (const kv of all.kvs) {
      const key = kv.key.toString()
      const clientId = parseLeafKey(WILLS, key)
      try {
        const will = clientId === undefined ? undefined : parseWill(kv.value, key)
        if (clientId !== undefined && will?.node === nodeId) wills.set(clientId, will)
      } catch (error) {
        this.log.warn({ key, err: describeCause(error) }, 'ignoring a will record of an unknown shape')
      }
    }
    return wills
  }

  /** Every stored will with its revision (the leader looks for those of nodes that are gone). */
  async entries(): Promise<Map<string, StoredWillEntry>> {
    const all = await this.call('all', 'scan', () => this.etcd.getAll().prefix(WILLS).exec())
    const wills = new Map<string, StoredWillEntry>()
    for (const kv of all.kvs) {
      const key = kv.key.toString()
      const clientId = parseLeafKey(WILLS, key)
      if (clientId === undefined) continue
      try {
        wills.set(clientId, { ...parseWill(kv.value, key), modRevision: kv.mod_revision })
      } catch (error) {
        this.log.warn({ key, err: describeCause(error) }, 'ignoring a will record of an unknown shape')
      }
    }
    return wills
  }

  /**
   * Takes an orphaned will for publishing: deletes it only if it is unchanged since `modRevision`,
   * the session key is as the caller saw it (`sessionModRevision`, '0' when absent: no client came
   * back meanwhile) and `term` still holds the leader's seat. True means the caller, and nobody
   * else ever, publishes it.
   */
  async take(clientId: string, modRevision: string, sessionModRevision: string, term: LeaderTerm): Promise<boolean> {
    const key = willKey(clientId)
    const session = sessionKey(clientId)
    const txn = await this.call(clientId, 'take', () =>
      this.etcd
        .if(key, 'Mod', '==', modRevision)
        .and(session, 'Mod', '==', sessionModRevision)
        .and(term.key, 'Create', '==', term.createRevision)
        .then(this.etcd.delete().key(key))
        .commit(),
    )
    return txn.succeeded
  }

  private async call<T>(subject: string, what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run()
    } catch (error) {
      throw new ClusterError(ClusterErrorCode.EtcdUnavailable, `will ${what} for ${subject} failed: ${describeCause(error)}`, { cause: error })
    }
  }
}

/** A `wills/<client>` value as stored (BadRecord when it is not one). */
export function parseWill(value: Buffer, key: string): StoredWill {
  const { stored, extra } = decodeMessageRecord(value, key)
  const { delayInterval, node, epoch, disconnectedAt } = extra
  if (typeof delayInterval !== 'number' || typeof node !== 'string' || typeof epoch !== 'number') {
    throw new ClusterError(ClusterErrorCode.BadRecord, `${key} lacks delay, node or epoch`)
  }
  return { stored, delayInterval, node, epoch, ...(typeof disconnectedAt === 'number' ? { disconnectedAt } : {}) }
}
