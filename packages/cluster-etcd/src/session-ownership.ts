import { type Logger, Refusal } from '@fluxmq/core'
import type { ComparatorBuilder, IKeyValue, Namespace } from 'etcd3'
import { ClusterError, ClusterErrorCode, describeCause } from './errors.js'
import { adoptedKey, sessionKey, subsKey, willKey } from './keyspace.js'
import type { NodeLease } from './node-lease.js'
import { parseSavedSession, type SavedSessionEntry } from './saved-session.js'
import { parseWill } from './will-index.js'

/** The value of `sessions/<client>`. */
export interface SessionOwner {
  readonly node: string
  readonly epoch: number
}

/** What a read of `sessions/<client>` saw, and at which store revision. */
export interface ObservedOwnership {
  readonly owner: (SessionOwner & { readonly modRevision: string }) | undefined
  /** The store revision of the read; the next claim's epoch is above it. */
  readonly revision: string
}

export interface SessionClaimResult {
  /** Fencing token of this ownership: greater than every epoch this client id ever had. */
  readonly epoch: number
  /** The node that owned the session just before, when it was another one or this one. */
  readonly previousNode: string | undefined
  /**
   * What `subs/<client>` held when the claim committed, read in its transaction: from then on
   * only this owner's fenced writes change it, so it is what a read after the claim would see,
   * one etcd round trip earlier (a session resumed from etcd needs it). A record this build did
   * not write counts as none, as the leader's sweep skips it.
   */
  readonly saved: SavedSessionEntry | undefined
  /**
   * Who wrote the pending will `wills/<client>` holds when the claim committed (read in its
   * transaction, like `saved`), undefined when none. A restarting node keeps the will it stored
   * only if it is still there as it wrote it: the leader takes a dead node's will only while no
   * node owns the session, so what the claim saw stays so.
   */
  readonly will: SessionOwner | undefined
}

export type ClaimAttempt =
  | { readonly won: true; readonly claim: SessionClaimResult }
  | { readonly won: false; readonly current: ObservedOwnership }

/** Claims in doubt remembered at most (see `inDoubt`); the oldest are forgotten first. */
const IN_DOUBT_MAX = 10_000

export interface SessionOwnershipOptions {
  readonly nodeId: string
  readonly logger: Logger
  /** claim() gives up with ClaimConflict after this many lost races; default 8. */
  readonly maxAttempts?: number
}

/**
 * Ownership of sessions: `sessions/<client>` = `{node, epoch}`, on the owner's node lease.
 *
 * A claim is ONE etcd transaction that compares the key's mod revision with the one read (or its
 * absence) and writes the new owner; of two racing claims exactly one commits. The epoch written
 * is the read's store revision + 1. etcd revisions only grow, and the transaction commits only if
 * nothing touched the key since that read, so every epoch is above every earlier epoch of the same
 * client id, even after the key was deleted (a release, or the owner's lease expired) — a number
 * kept in the value alone would restart at 1 there and let a stale owner pass a fencing check.
 */
export class SessionOwnership {
  private readonly log: Logger
  private readonly maxAttempts: number
  /**
   * Client id → a claim of it that failed without an answer (it may have committed) and the
   * owner it replaced. A later claim that finds this node owning the session at that claim's
   * epoch reports that owner as the previous one: reported as this node, the takeover from it
   * (or the resume from etcd's saved copy) was skipped, and the session started empty.
   */
  private readonly inDoubt = new Map<string, { readonly epoch: number; readonly previousNode: string | undefined }>()

  constructor(
    private readonly etcd: Namespace,
    private readonly lease: NodeLease,
    private readonly options: SessionOwnershipOptions,
  ) {
    this.log = options.logger.child({ nodeId: options.nodeId })
    this.maxAttempts = options.maxAttempts ?? 8
  }

  async read(clientId: string, local = false): Promise<ObservedOwnership> {
    const res = await this.call(clientId, 'read', () => this.etcd.get(sessionKey(clientId)).serializable(local).exec())
    return { owner: parseOwner(clientId, res.kvs[0]), revision: res.header.revision }
  }

  /**
   * One claim transaction against what `observed` saw; `won: false` carries what is there now.
   * `adopting`: the claim holds a dead node's session for its absent client (the leader's
   * adoption), and says so in `adopted/<client>` (on this node's lease), so the client's will stays
   * due: an adoption is not the client coming back. Every other claim deletes that marker.
   */
  async tryClaim(clientId: string, observed: ObservedOwnership, adopting = false): Promise<ClaimAttempt> {
    const key = sessionKey(clientId)
    const epoch = Number(observed.revision) + 1
    const value = ownerValue(this.options.nodeId, epoch)
    const leaseId = this.lease.requireId()
    const txn =
      observed.owner === undefined ? this.etcd.if(key, 'Create', '==', 0) : this.etcd.if(key, 'Mod', '==', observed.owner.modRevision)
    const marker = adopting ? this.etcd.put(adoptedKey(clientId)).value(String(epoch)).lease(leaseId) : this.etcd.delete().key(adoptedKey(clientId))
    const res = await this.call(clientId, 'claim', () =>
      txn
        .then(this.etcd.put(key).value(value).lease(leaseId), this.etcd.get(subsKey(clientId)), this.etcd.get(willKey(clientId)), marker)
        .else(this.etcd.get(key))
        .commit(),
    )
    if (!res.succeeded) {
      const current = res.responses[0]?.response_range?.kvs[0]
      return { won: false, current: { owner: parseOwner(clientId, current), revision: res.header.revision } }
    }
    return this.won(clientId, observed, epoch, adopting, res.responses[1]?.response_range?.kvs[0], res.responses[2]?.response_range?.kvs[0])
  }

  /**
   * Reads and claims until this node wins; rejects with ClaimConflict after `maxAttempts` lost
   * races. A transaction that fails unanswered (a call deadline) may have committed: remembered,
   * so that the next claim of the client here still names the owner before it (`inDoubt`).
   */
  async claim(clientId: string): Promise<SessionClaimResult> {
    // A member-local read (no raft round) is enough when it finds the key: the transaction
    // compares the key's mod revision, so a stale read only loses the race and reads again, and
    // every earlier epoch is at most that mod revision. A key it finds absent is read again
    // linearizably: one created and deleted since could have carried a higher epoch.
    let observed = await this.read(clientId, true)
    if (observed.owner === undefined) observed = await this.read(clientId)
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      let result: ClaimAttempt
      try {
        result = await this.tryClaim(clientId, observed)
      } catch (error) {
        this.rememberInDoubt(clientId, observed)
        throw error
      }
      if (result.won) return result.claim
      observed = result.current
    }
    throw new ClusterError(ClusterErrorCode.ClaimConflict, `claim of session ${clientId} lost ${this.maxAttempts} races in a row`)
  }

  private won(clientId: string, observed: ObservedOwnership, epoch: number, adopting: boolean, subsKv: IKeyValue | undefined, willKv: IKeyValue | undefined): ClaimAttempt {
    const previousNode = this.ownerBefore(clientId, observed)
    this.inDoubt.delete(clientId)
    this.log.info({ clientId, epoch, previousNode, adopting }, 'session claimed')
    return { won: true, claim: { epoch, previousNode, saved: this.savedAlong(clientId, subsKv), will: this.willAlong(clientId, willKv) } }
  }

  private rememberInDoubt(clientId: string, observed: ObservedOwnership): void {
    const previousNode = this.ownerBefore(clientId, observed)
    this.inDoubt.delete(clientId)
    if (this.inDoubt.size >= IN_DOUBT_MAX) this.inDoubt.delete(this.inDoubt.keys().next().value as string)
    this.inDoubt.set(clientId, { epoch: Number(observed.revision) + 1, previousNode })
  }

  /** The owner `observed` shows, or, when that is this node's claim in doubt, the owner before it. */
  private ownerBefore(clientId: string, observed: ObservedOwnership): string | undefined {
    const owner = observed.owner
    const doubt = this.inDoubt.get(clientId)
    return doubt !== undefined && owner?.node === this.options.nodeId && owner.epoch === doubt.epoch ? doubt.previousNode : owner?.node
  }

  /** The epoch of the adoption that holds `clientId` (see tryClaim), undefined when none marks it. */
  async adoptedEpoch(clientId: string): Promise<number | undefined> {
    const res = await this.call(clientId, 'adoption read', () => this.etcd.get(adoptedKey(clientId)).exec())
    const kv = res.kvs[0]
    return kv === undefined ? undefined : Number(kv.value.toString('utf8'))
  }

  /**
   * Deletes the ownership if it is still this node's at `epoch`; false when another owner took it.
   * `ended`: the session ended (expired, or ended by its connection): its saved subscriptions go
   * in the same transaction, while the ownership still fences them. Deleted after the key, a
   * fenced delete was refused, and the entry outlived the session (one a leader adopts again).
   */
  async release(clientId: string, epoch: number, ended = false): Promise<boolean> {
    const deletes = [this.etcd.delete().key(sessionKey(clientId))]
    if (ended) deletes.push(this.etcd.delete().key(subsKey(clientId)))
    const res = await this.call(clientId, 'release', () => this.fenced(clientId, epoch).then(...deletes).commit())
    return res.succeeded
  }

  /** True when this node still owns `clientId` at `epoch` (a linearizable read). */
  async isOwner(clientId: string, epoch: number): Promise<boolean> {
    const { owner } = await this.read(clientId)
    return owner !== undefined && owner.node === this.options.nodeId && owner.epoch === epoch
  }

  /** Throws Fenced when this node no longer owns `clientId` at `epoch`. */
  async assertOwner(clientId: string, epoch: number): Promise<void> {
    if (!(await this.isOwner(clientId, epoch))) {
      throw new ClusterError(ClusterErrorCode.Fenced, `node ${this.options.nodeId} no longer owns session ${clientId} at epoch ${epoch}`, {
        reason: Refusal.SessionTakenOver,
      })
    }
  }

  /**
   * A transaction that commits only while this node owns `clientId` at `epoch`: add `.then(…)`
   * writes (subscriptions, handover markers) and they are fenced against any newer owner.
   */
  fenced(clientId: string, epoch: number): ComparatorBuilder {
    return this.etcd.if(sessionKey(clientId), 'Value', '==', ownerValue(this.options.nodeId, epoch))
  }

  private savedAlong(clientId: string, kv: IKeyValue | undefined): SavedSessionEntry | undefined {
    if (kv === undefined) return undefined
    try {
      return parseSavedSession(clientId, kv.value, kv.mod_revision)
    } catch (error) {
      this.log.warn({ clientId, err: describeCause(error) }, 'saved session of an unknown shape ignored')
      return undefined
    }
  }

  private willAlong(clientId: string, kv: IKeyValue | undefined): SessionOwner | undefined {
    if (kv === undefined) return undefined
    try {
      const { node, epoch } = parseWill(kv.value, willKey(clientId))
      return { node, epoch }
    } catch (error) {
      this.log.warn({ clientId, err: describeCause(error) }, 'pending will of an unknown shape ignored')
      return undefined
    }
  }

  private async call<T>(clientId: string, what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run()
    } catch (error) {
      throw new ClusterError(ClusterErrorCode.EtcdUnavailable, `session ${what} for ${clientId} failed: ${describeCause(error)}`, { cause: error })
    }
  }
}

/** The exact bytes of an ownership value (fenced() compares them). */
function ownerValue(node: string, epoch: number): string {
  return JSON.stringify({ node, epoch })
}

function parseOwner(clientId: string, kv: IKeyValue | undefined): ObservedOwnership['owner'] {
  if (kv === undefined) return undefined
  let record: Partial<SessionOwner>
  try {
    record = JSON.parse(kv.value.toString('utf8')) as Partial<SessionOwner>
  } catch (error) {
    throw new ClusterError(ClusterErrorCode.BadRecord, `sessions/${clientId} is not JSON`, { cause: error })
  }
  if (typeof record.node !== 'string' || typeof record.epoch !== 'number') {
    throw new ClusterError(ClusterErrorCode.BadRecord, `sessions/${clientId} lacks node or epoch`)
  }
  return { node: record.node, epoch: record.epoch, modRevision: kv.mod_revision }
}
