import type { Logger, Message } from '@fluxmq/core'
import { TransportError, type ForwardRouting } from '@fluxmq/cluster-transport'
import { ClusterNodeError, ClusterNodeErrorCode } from './errors.js'

/**
 * Delays of the resends after the first refusal (1, 3, 7 and 15 s after it): a session its node
 * lost is served again once its client reconnects, within a few keepalives. The last one stays
 * within the `MARKS_MS` a receiver remembers where its sessions came from (SessionMoves).
 */
const RESEND_DELAYS_MS = [1_000, 2_000, 4_000, 8_000]
/** How long a receiver remembers which sessions a resend reached: past the last resend of it. */
const GIVEN_MS = 30_000

export interface UnattendedResendsOptions {
  /** The other nodes that route `message` now. */
  readonly targets: (message: Message) => ReadonlySet<string> | undefined
  /** Sends to one node under the publish's first routing sequence. */
  readonly send: (node: string, message: Message, routing: ForwardRouting, seq: number) => Promise<void>
  /** SessionMoves.cameFrom. */
  readonly cameFrom: (clientId: string, nodes: readonly string[], after: { readonly node: string; readonly seq: number } | { readonly arrivals: number } | undefined) => boolean
  /** SessionMoves.gaveHeld: the session here got the publish already, held for it while it was acquired. */
  readonly gaveHeld: (message: Message, clientId: string) => boolean
  /** ClusterInbound.deliverAmong: offers the publish to the matching sessions here `among` names. */
  readonly deliverAmong: (message: Message, among: (clientId: string) => boolean) => readonly string[]
  readonly logger: Logger
  /** Test hook: the resend delays (default RESEND_DELAYS_MS). */
  readonly delaysMs?: readonly number[]
}

/** One unattended publish of this node some node refused, while it is sent again. */
interface Resending {
  readonly message: Message
  readonly seq: number
  /** This node's `arrivals` when it routed the publish to its own sessions. */
  readonly arrivals: number
  /** The nodes that refused the first send (certainly without applying it). */
  readonly refusedBy: readonly string[]
  /** The nodes that accepted the first send, or whose answer is unknown: they may have applied it. */
  readonly hadIt: ReadonlySet<string>
  /** Sessions here the resends reached. */
  readonly given: Set<string>
}

/** Whether a failed send certainly did not apply the publish there (refused, never sent, no peer). */
function notApplied(err: unknown): boolean {
  if (err instanceof TransportError) return !err.inDoubt
  return err instanceof ClusterNodeError && err.code === ClusterNodeErrorCode.NoPeer
}

/**
 * A publish nobody sends again when a node refuses it (a will: its client is gone) would reach
 * none of the sessions that node served: a node that lost its lease (frozen, cut off) or died
 * refuses, or cannot take, what is forwarded to it, while its sessions go elsewhere. A
 * publisher sends such a publish again itself; for these, this node does, for those sessions alone:
 *
 * - to the nodes that route the topic by then (the refusing ones included), marked as a resend
 *   (ForwardRouting.resend): each offers it only to the sessions that arrived there lately from a
 *   refusing node and, when it may have had the publish itself, after it applied it (those
 *   before had it), each session once;
 * - here, to the sessions that arrived from a refusing node after this node routed the publish.
 *
 * A session that came from a node that may have applied the publish is not offered it again. The
 * resends end 15 s after the refusal.
 */
export class UnattendedResends {
  private readonly timers = new Set<NodeJS.Timeout>()
  /** Wake-ups of resends waiting for their next delay, run at close. */
  private readonly waiting = new Set<() => void>()
  /** `${sender} ${seq}` → sessions here a resend of that publish reached, for GIVEN_MS. */
  private readonly received = new Map<string, Set<string>>()
  private readonly delaysMs: readonly number[]
  private closed = false

  constructor(private readonly options: UnattendedResendsOptions) {
    this.delaysMs = options.delaysMs ?? RESEND_DELAYS_MS
  }

  /**
   * Follows the first sends of an unattended publish (`sends`: node → its acceptance), routed
   * here at `arrivals` under routing sequence `seq`. Resolves once every node accepted it or once
   * its resends end; rejects with the failure of a node whose answer is unknown.
   */
  async watch(message: Message, seq: number, arrivals: number, sends: ReadonlyMap<string, Promise<void>>): Promise<void> {
    const refusedBy: string[] = []
    const hadIt = new Set<string>()
    let refusal: unknown
    let doubt: unknown
    await Promise.all(
      [...sends].map(([node, accepted]) =>
        accepted.then(
          () => void hadIt.add(node),
          (err: unknown) => {
            if (notApplied(err)) {
              refusedBy.push(node)
              refusal ??= err
            } else {
              hadIt.add(node)
              doubt ??= err
            }
          },
        ),
      ),
    )
    if (refusedBy.length > 0 && !this.closed) {
      this.options.logger.warn(
        { err: refusal, clientId: message.publisherId, topic: message.topic, refusedBy },
        'unattended publish refused by nodes that do not have it: sent again to the sessions they served, wherever those are served next',
      )
      const resending: Resending = { message, seq, arrivals, refusedBy, hadIt, given: new Set() }
      for (const delayMs of this.delaysMs) {
        if (!(await this.after(delayMs))) break
        await this.resend(resending)
      }
      this.options.logger.info({ clientId: message.publisherId, topic: message.topic, refusedBy, sessionsHere: resending.given.size }, 'resends of an unattended publish ended')
    }
    if (doubt !== undefined) throw doubt
  }

  /**
   * A resend from `from` (ForwardRouting.resend) of its publish `seq`: offered to the sessions
   * here it is for, each once.
   */
  receive(from: string, seq: number, message: Message, resend: NonNullable<ForwardRouting['resend']>): void {
    const key = `${from} ${seq}`
    let given = this.received.get(key)
    if (given === undefined) {
      const reached = new Set<string>()
      given = reached
      this.received.set(key, reached)
      this.later(GIVEN_MS, () => {
        if (this.received.get(key) === reached) this.received.delete(key)
      })
    }
    const after = resend.applied ? { node: from, seq } : undefined
    this.give(message, (clientId) => this.options.cameFrom(clientId, resend.refusedBy, after), given)
  }

  close(): void {
    this.closed = true
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
    for (const wake of [...this.waiting]) wake()
    this.received.clear()
  }

  private async resend(r: Resending): Promise<void> {
    const after = { arrivals: r.arrivals }
    // A session acquired from a refusing node after this node routed the publish may have had it
    // from the acquisition: this node's sends to that node were held meanwhile, and what they
    // carried was given to the session (chaos seed 282451171: a will delivered twice so).
    this.give(r.message, (clientId) => this.options.cameFrom(clientId, r.refusedBy, after) && !this.options.gaveHeld(r.message, clientId), r.given)
    const sends: Promise<void>[] = []
    for (const node of this.options.targets(r.message) ?? []) {
      const resend = { refusedBy: r.refusedBy, applied: r.hadIt.has(node) }
      // Refused or lost again: the next resend tries again, and the receiver gives each session it once.
      sends.push(this.options.send(node, r.message, { resend }, r.seq).catch(() => undefined))
    }
    await Promise.all(sends)
  }

  /** Offers the publish to the matching sessions here `isFor` names, each once (`given`). */
  private give(message: Message, isFor: (clientId: string) => boolean, given: Set<string>): void {
    for (const clientId of this.options.deliverAmong(message, (c) => !given.has(c) && isFor(c))) {
      given.add(clientId)
      this.options.logger.info({ clientId, topic: message.topic }, 'unattended publish a node refused given to a session that came from there')
    }
  }

  /** Resolves true after `ms`; false at once, or then, once closed. */
  private after(ms: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(false)
    return new Promise((resolve) => {
      const wake = (): void => {
        this.waiting.delete(wake)
        resolve(!this.closed)
      }
      this.waiting.add(wake)
      this.later(ms, wake)
    })
  }

  private later(ms: number, run: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      run()
    }, ms)
    timer.unref()
    this.timers.add(timer)
  }
}
