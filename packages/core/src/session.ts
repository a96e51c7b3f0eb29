import { topicMatches } from '@fluxmq/topic'
import type { ClientLink, SessionHandle } from './api.js'
import type { ClientIdentity } from './auth.js'
import type { CarriedDelivery } from './cluster.js'
import { shortId } from './delivery-ids.js'
import { DeliveryWindow } from './delivery-window.js'
import { IncomingQos2 } from './incoming-qos2.js'
import type { Message, QoS } from './message.js'
import { Outgoing } from './outgoing.js'
import type { Logger } from './ports.js'
import type { QueuedForms } from './queued-form.js'
import { SessionQueue } from './session-queue.js'
import type { Outcome } from './settlement.js'
import type { Stats } from './stats.js'
import type { InflightRecord, SessionProtocol, SessionRecord, Storage, WillRecord } from './storage.js'
import type { Subscription } from './subscription.js'
import type { Timer } from './timers.js'

/** What every session shares: the broker's storage, counters and settings. */
export interface SessionContext {
  readonly storage: Storage
  readonly stats: Stats
  readonly logger: Logger
  readonly maxOfflineMessages: number
  readonly offlineOverflow: 'drop_oldest' | 'reject_new'
  readonly queuedForms: QueuedForms
  /**
   * Released incoming QoS 2 ids a session keeps: the server's Receive Maximum. The PUBCOMPs a
   * client missed when its connection (or the broker) died are the last ones sent, and it can
   * have had at most that many messages awaiting PUBCOMP [MQTT-3.3.4-7].
   */
  readonly releasedQos2Kept: number
  now(): number
  /** Set whenever a durable write was staged; the broker turns it into PublishResult.durable. */
  wrote: boolean
  /**
   * Set while routing when a QoS 1/2 delivery went into a connected session's full queue; the
   * broker turns it into PublishResult.backpressure.
   */
  backpressure: Promise<void> | undefined
  /** The last full session a QoS 0 delivery was dropped for: the broker slows a publisher that reaches nobody else. */
  overflowing: Promise<void> | undefined
  /** The broker stopped: Storage is closed, late async results are dropped. */
  halted: boolean
}

/**
 * Deliveries fed to a session from outside its own queue (the queue consumers of its connection,
 * see queue-bindings.ts): they wait with their feeder, not in the session, and go out when the
 * window and the link have room.
 */
export interface SessionFeed {
  /** The session has room again (after its own queue): send what waits while `roomFor` allows. */
  drain(): void
  /** The connection is gone. */
  detach(): void
}

/** What became of one message offered to one session. */
export const Offer = {
  Sent: 0,
  Queued: 1,
  /** Not for this session after all (expired, too large for the client, QoS 0 while away or over a full queue). */
  Skipped: 2,
  /** The offline queue is full and the policy is reject_new. */
  Rejected: 3,
  /** QoS 0 dropped because a connected session's queue is full (`SessionContext.overflowing` says who). */
  Overflowed: 4,
} as const
export type Offer = (typeof Offer)[keyof typeof Offer]

/** The most deliveries a session can have unsettled: one per short delivery id. */
const MAX_WINDOW = 0xffff

/** Publishers slowed by a full queue of this session, released together once it has drained. */
interface Congestion {
  readonly drained: Promise<void>
  readonly release: () => void
}

/*
 * What a session has not used yet reads as these shared empty collections: an empty Map or Set
 * costs ~170 bytes with its backing store, and most connections never use most of them (an idle
 * client has no subscription, a subscriber never receives QoS 2). Typed read-only, never written.
 */
const NO_SUBSCRIPTIONS: ReadonlyMap<string, Subscription> = new Map()
const NO_INFLIGHT: ReadonlyMap<number, Outgoing> = new Map()
/** Read through its getters only, never written. */
const NO_INCOMING = new IncomingQos2()

/**
 * One session: who it is and its lifecycle fields, its subscriptions, and the outbound half of
 * delivery, which it drives through its jobs: the unsettled window and its delivery ids
 * (delivery-window.ts), the incoming QoS 2 ids (incoming-qos2.ts), and what waits for room or
 * credit (session-queue.ts); with settlement, resends, reads of the stored queue and backpressure
 * on publishers. The QoS 1/2 queue is the session's offline queue in Storage (for a stored
 * session): its in-memory part mirrors the head while the client is connected, `storedTail`
 * counts what sits in Storage only. A session is `stored` from the first
 * connection that asked for a non-zero expiry until it ends; a session with expiry 0 never touches
 * Storage because it cannot outlive its connection, let alone a restart.
 *
 * The collections (and the job objects above) are created on first write and read through
 * getters that return shared empty ones until then, so an idle connection costs no Map, Set or
 * queue (see README, "Memory per connection"); reads never allocate.
 */
export class Session {
  identity: ClientIdentity
  expiryInterval: number
  disconnectedAt: number | undefined
  /** The will of the current connection, or a pending one after it closed. */
  will: WillRecord | undefined
  link: ClientLink | undefined
  /** The current connection's handle; undefined while disconnected. Others are stale. */
  handle: SessionHandle | undefined
  /** CONNACK written (activate) and the link not gone: deliveries go out now. */
  active = false
  stored = false
  ended = false
  /** The cluster ownership epoch this node serves the session under (SessionClaim.epoch). */
  epoch = 0
  receiveMaximum = MAX_WINDOW
  private subscriptionsByFilter: Map<string, Subscription> | undefined
  /** Unsettled QoS 1/2 deliveries; created with the first one. */
  private unsettled: DeliveryWindow | undefined
  private incoming: IncomingQos2 | undefined
  /** What waits for window room or credit; created with the first delivery that waits. */
  private waiting: SessionQueue | undefined
  private congestion: Congestion | undefined
  expiryTimer: Timer | undefined
  willTimer: Timer | undefined
  /** Queue consumers of the current connection; undefined without any. */
  feed: SessionFeed | undefined
  /** Routing scratch, valid for the router epoch in `mark` (see Router.match). */
  mark = 0
  matchQos: QoS = 0
  matchRetain = false
  matchIds: readonly number[] | undefined
  matchIdsOwned = false

  private taking = false

  constructor(
    readonly clientId: string,
    identity: ClientIdentity,
    expiryInterval: number,
    private readonly ctx: SessionContext,
  ) {
    this.identity = identity
    this.expiryInterval = expiryInterval
  }

  /** The current (or last) connection's protocol, which a resumed session takes on. */
  get protocol(): SessionProtocol {
    return this.identity.protocol
  }

  get subscriptions(): ReadonlyMap<string, Subscription> {
    return this.subscriptionsByFilter ?? NO_SUBSCRIPTIONS
  }

  /** Unsettled outgoing QoS 1/2 deliveries by short delivery id. */
  get inflight(): ReadonlyMap<number, Outgoing> {
    return this.unsettled?.entries ?? NO_INFLIGHT
  }

  /** Incoming QoS 2 ids awaiting PUBREL. */
  get incomingQos2(): ReadonlySet<number> {
    return (this.incoming ?? NO_INCOMING).received
  }

  /** Incoming QoS 2 ids whose PUBREL was answered, oldest first (see releaseIncoming). */
  get releasedQos2(): ReadonlySet<number> {
    return (this.incoming ?? NO_INCOMING).released
  }

  /** QoS 1/2 queue length, memory mirror and storage-only tail together. */
  get queued(): number {
    return this.waiting?.queued ?? 0
  }

  /** QoS 0 deliveries waiting for credit. */
  get heldQos0(): number {
    return this.waiting?.heldQos0 ?? 0
  }

  /** Adds or replaces the subscription to `sub.options.filter`. */
  putSubscription(sub: Subscription): void {
    ;(this.subscriptionsByFilter ??= new Map()).set(sub.options.filter, sub)
  }

  /** Removes and returns the subscription to `filter`, if any. */
  removeSubscription(filter: string): Subscription | undefined {
    const subs = this.subscriptionsByFilter
    const sub = subs?.get(filter)
    if (subs === undefined || sub === undefined) return undefined
    subs.delete(filter)
    // Unsubscribing is rare: a session that dropped its last subscription gives the map back.
    if (subs.size === 0) this.subscriptionsByFilter = undefined
    return sub
  }

  /** State handed over by another node or read from Storage; the window's entries count as inflight. */
  restore(inflight: readonly InflightRecord[], incomingQos2: readonly number[], releasedQos2: readonly number[]): void {
    for (const r of inflight) this.window().restore(Outgoing.fromRecord(r))
    this.ctx.stats.inflightCurrent += inflight.length
    if (incomingQos2.length === 0 && releasedQos2.length === 0) return
    const incoming = (this.incoming ??= new IncomingQos2())
    for (const id of releasedQos2) incoming.restoreReleased(id)
    for (const id of incomingQos2) incoming.receive(id)
  }

  /** The in-memory part of the pending queue in its stored form (cluster handover). */
  queuedInMemory(): Message[] {
    const out: Message[] = []
    if (this.waiting !== undefined) for (const o of this.waiting.inMemory()) out.push(this.queuedForm(o))
    return out
  }

  /** A stored session loaded at start-up: `count` deliveries wait in its offline queue in Storage. */
  restoreStoredQueue(count: number): void {
    if (count > 0) this.queue().storedTail = count
  }

  private queue(): SessionQueue {
    return (this.waiting ??= new SessionQueue(this.ctx.stats))
  }

  private window(): DeliveryWindow {
    return (this.unsettled ??= new DeliveryWindow())
  }

  record(): SessionRecord {
    return {
      clientId: this.clientId,
      protocol: this.protocol,
      expiryInterval: this.expiryInterval,
      disconnectedAt: this.disconnectedAt,
      will: this.will,
      epoch: this.epoch,
    }
  }

  /** Writes the whole session to Storage the first time it becomes persistent. */
  persist(): void {
    const storage = this.ctx.storage
    storage.putSession(this.record())
    this.ctx.wrote = true
    if (this.stored) return
    this.stored = true
    for (const sub of this.subscriptions.values()) storage.putSubscription(this.clientId, sub.options)
    for (const out of this.inflight.values()) if (!out.external) storage.putInflight(this.clientId, out.toRecord())
    for (const id of this.incomingQos2) storage.putIncomingQos2(this.clientId, id)
    for (const id of this.releasedQos2) {
      storage.putIncomingQos2(this.clientId, id)
      storage.releaseIncomingQos2(this.clientId, id)
    }
    if (this.waiting !== undefined) {
      for (const out of this.waiting.inMemory()) storage.appendOffline(this.clientId, this.queuedForm(out))
    }
  }

  /** The Message that stands for `out` in the offline queue: its `retain` is the delivery's RETAIN. */
  queuedForm(out: Outgoing): Message {
    return this.ctx.queuedForms.of(out.message, out.retain)
  }

  /** The connection is gone; the session stays. */
  detach(): void {
    this.active = false
    this.link = undefined
    this.handle = undefined
    this.detachFeed()
    this.dropHeld('disconnected')
    // The mirror is the head of the stored queue; free the memory, activate() reads it back.
    if (this.stored) this.waiting?.spill()
    // Offline now: the overflow policy applies, the publishers waiting on this queue go on.
    this.relieve(true)
  }

  private detachFeed(): void {
    const feed = this.feed
    this.feed = undefined
    feed?.detach()
  }

  /** Drops every QoS 0 delivery waiting for credit. */
  private dropHeld(reason: 'disconnected'): void {
    const dropped = this.waiting?.dropHeld() ?? 0
    if (dropped > 0) this.ctx.stats.drop(reason, dropped)
  }

  /** [MQTT-4.3.3-10] An incoming QoS 2 PUBLISH was accepted: its id is taken until PUBREL. */
  receiveIncoming(packetId: number): void {
    // A released id used again: the client had the PUBCOMP, the id carries a new message.
    ;(this.incoming ??= new IncomingQos2()).receive(packetId)
    if (this.stored) this.ctx.storage.putIncomingQos2(this.clientId, packetId)
  }

  /**
   * PUBREL for an incoming QoS 2 id. [MQTT-4.3.3-12] From now on a PUBLISH with it is a new
   * message. The id stays known as released: a client whose PUBCOMP was lost with its connection
   * or with a crashed broker sends the PUBREL again after reconnecting [MQTT-4.4.0-1], and that
   * is recovery, answered with success again [MQTT-4.3.3-11], not 0x92 (which clients report as a
   * failed publish). False when the id was never received (or released too long ago).
   */
  releaseIncoming(packetId: number): boolean {
    const forgotten = this.incoming === undefined ? false : this.incoming.release(packetId, this.ctx.releasedQos2Kept)
    if (forgotten === false) return this.releasedQos2.has(packetId)
    if (this.stored) {
      const storage = this.ctx.storage
      storage.releaseIncomingQos2(this.clientId, packetId)
      if (forgotten !== undefined) storage.deleteIncomingQos2(this.clientId, forgotten)
    }
    return true
  }

  /** Offers one routed message. `qos` is already min(message, granted). */
  offer(message: Message, qos: QoS, retain: boolean, ids: readonly number[] | undefined): Offer {
    // A link that closed during this routing pass may have ended the session already.
    if (this.ended) return Offer.Skipped
    // [MQTT-3.3.2-5] An expired message MUST NOT be sent to a subscriber that has not started receiving it.
    if (message.expiresAt !== undefined && message.expiresAt <= this.ctx.now()) {
      this.ctx.stats.drop('expired')
      return Offer.Skipped
    }
    if (qos === 0) {
      // QoS 0 is neither windowed nor queued for a client that is away.
      if (!this.active) return Offer.Skipped
      const out = new Outgoing(message, 0, retain, ids)
      if (this.heldQos0 === 0 && (this.link as ClientLink).hasCredit()) return this.transmit(out) ? Offer.Sent : Offer.Skipped
      return this.hold(out)
    }
    const out = new Outgoing(message, qos, retain, ids)
    // [MQTT-3.3.4-9] No more than Receive Maximum unacknowledged QoS 1/2 PUBLISH packets, and
    // nothing beyond the link's credit.
    if (this.active && !this.taking && this.queued === 0 && this.inflight.size < this.receiveMaximum && (this.link as ClientLink).hasCredit()) {
      return this.transmit(out) ? Offer.Sent : Offer.Skipped
    }
    return this.enqueue(out)
  }

  /** Whether the session's queue (QoS 1/2 and held QoS 0 together) is at session.max_offline_messages. */
  private get full(): boolean {
    const max = this.ctx.maxOfflineMessages
    return max > 0 && this.queued + this.heldQos0 >= max
  }

  /** A QoS 0 delivery without credit waits, unless the queue is full: then it is dropped and counted. */
  private hold(out: Outgoing): Offer {
    if (this.full) {
      this.ctx.stats.drop('queue_full')
      if (out.message.publisherId === this.clientId) return Offer.Skipped
      this.ctx.overflowing = this.congested()
      return Offer.Overflowed
    }
    this.queue().hold(out)
    return Offer.Queued
  }

  private enqueue(out: Outgoing): Offer {
    const { stats, storage } = this.ctx
    if (this.full) {
      if (this.heldQos0 > 0) {
        // QoS 0 gives way to QoS 1/2.
        this.queue().shiftHeld()
        stats.drop('queue_full')
      } else if (this.handle !== undefined) {
        // Connected: nothing is dropped; the publishers feeding this queue are slowed down
        // instead. Not a client publishing to itself: it would stop reading the very PUBACKs
        // that drain its queue.
        if (out.message.publisherId !== this.clientId) this.ctx.backpressure = this.congested()
      } else {
        stats.drop('queue_full')
        if (this.ctx.offlineOverflow === 'reject_new') return Offer.Rejected
        this.dropOldest()
      }
    }
    if (this.stored) {
      storage.appendOffline(this.clientId, this.queuedForm(out))
      this.ctx.wrote = true
    }
    const queue = this.queue()
    if (!this.stored || (this.active && queue.storedTail === 0)) queue.push(out)
    else queue.storedTail++
    stats.offlineQueuedCurrent++
    return Offer.Queued
  }

  private dropOldest(): void {
    const queue = this.queue()
    if (queue.shift() === undefined) queue.storedTail--
    if (this.stored) this.ctx.storage.dropOldestOffline(this.clientId, 1)
    this.ctx.stats.offlineQueuedCurrent--
  }

  /** The promise the publishers feeding this full queue wait on. */
  private congested(): Promise<void> {
    let c = this.congestion
    if (c === undefined) {
      let release!: () => void
      const drained = new Promise<void>((resolve) => (release = resolve))
      c = this.congestion = { drained, release }
      this.ctx.stats.backpressureEvents++
    }
    return c.drained
  }

  /**
   * Lets the waiting publishers go once the queue is down to half its bound (not at the first
   * free slot: every release costs each of them a pause and a resume), or at once (`force`).
   */
  private relieve(force: boolean): void {
    const c = this.congestion
    if (c === undefined) return
    if (!force && (this.queued + this.heldQos0) * 2 > this.ctx.maxOfflineMessages) return
    this.congestion = undefined
    c.release()
  }

  /**
   * An unsettled delivery of another copy of this session (a node that returns with its data hands
   * it on). It keeps its delivery id when no unsettled delivery here uses its short id and the
   * window has room: resent with DUP=1, or its PUBREL when it was received, the client recognises
   * it [MQTT-4.3.3-9]. Otherwise a received one is dropped (the client has it, only its release is
   * lost) and one not received is offered as a new delivery.
   */
  carry(message: Message, carried: CarriedDelivery, ids: readonly number[] | undefined): void {
    if (this.ended) return
    const window = this.window()
    if (window.entries.has(shortId(carried.deliveryId)) || window.size >= this.receiveMaximum) {
      if (!carried.received) this.offer(message, carried.qos, carried.retain, ids)
      return
    }
    const out = new Outgoing(message, carried.qos, carried.retain, ids)
    out.deliveryId = carried.deliveryId
    out.received = carried.received
    out.sent = true
    out.sentAt = this.ctx.now()
    this.track(out)
    if (!this.active) return
    out.dup = !out.received
    ;(this.link as ClientLink).deliver(out)
  }

  /** Sends now; for QoS 1/2 also records it inflight. False when the link refused it. */
  private transmit(out: Outgoing): boolean {
    const link = this.link as ClientLink
    if (out.qos > 0) this.window().assignId(out)
    // [MQTT-3.1.2-25] A message larger than the client's Maximum Packet Size is discarded for it.
    if (!link.deliver(out)) {
      this.ctx.stats.drop('too_large')
      return false
    }
    this.ctx.stats.messagesSent++
    // The link may have ended the session from inside deliver() (e.g. its write buffer overflowed).
    if (out.qos === 0 || this.ended) return true
    out.sent = true
    out.sentAt = this.ctx.now()
    this.track(out)
    return true
  }

  private track(out: Outgoing): void {
    this.window().add(out)
    this.ctx.stats.inflightCurrent++
    if (this.stored && !out.external) {
      this.ctx.storage.putInflight(this.clientId, out.toRecord())
      this.ctx.wrote = true
    }
  }

  /**
   * After CONNACK: [MQTT-4.4.0-1] resend every unsettled delivery with its delivery id (DUP=1),
   * or its second phase when it was received, then fill the window from the queue.
   */
  activate(): void {
    this.active = true
    const link = this.link as ClientLink
    const now = this.ctx.now()
    for (const out of this.inflight.values()) {
      out.sentAt = now
      if (out.received) {
        link.deliver(out)
        continue
      }
      // [MQTT-3.3.1-1] DUP=1 only on a re-delivery; an entry taken while away was never sent.
      out.dup = out.sent
      if (link.deliver(out)) out.sent = true
      else {
        // [MQTT-3.1.2-25] Too large for this connection's Maximum Packet Size: done, as if delivered.
        this.ctx.stats.drop('too_large')
        this.complete(out)
      }
    }
    this.pump()
  }

  /**
   * First phase of a two-phase settlement (QoS 2; MQTT PUBREC [MQTT-4.3.3]): the target has the
   * delivery and settles it later. Repeated, it is true again (the adapter answers it again).
   */
  received(id: number): boolean {
    const out = this.unsettled?.find(id)
    if (out === undefined || out.qos !== 2) return false
    if (out.received) return true
    out.received = true
    out.sentAt = this.ctx.now()
    this.window().touch(out)
    if (this.stored) this.ctx.storage.putInflight(this.clientId, out.toRecord())
    return true
  }

  /**
   * Settles a delivery with `outcome`: it leaves the window. A two-phase delivery is `accepted`
   * only once received (MQTT PUBCOMP); before that only a refusal settles it (a PUBREC >= 0x80).
   */
  settle(id: number, outcome: Outcome): boolean {
    const out = this.unsettled?.find(id)
    if (out === undefined || (outcome === 'accepted' && out.qos === 2 && !out.received)) return false
    this.complete(out)
    out.settled(outcome)
    this.pump()
    return true
  }

  private complete(out: Outgoing): void {
    this.unsettled?.remove(out)
    this.ctx.stats.inflightCurrent--
    if (this.stored && !out.external) this.ctx.storage.deleteInflight(this.clientId, out.deliveryId)
  }

  /** Resends what has waited `interval` ms for an acknowledgement (MQTT 3.1.1 sessions only). */
  retry(now: number, interval: number): void {
    const link = this.link
    if (!this.active || link === undefined) return
    const window = this.unsettled
    if (window === undefined) return
    let budget = window.size
    for (const out of window.entries.values()) {
      if (budget-- === 0 || now - out.sentAt < interval) return
      out.sentAt = now
      window.touch(out)
      out.dup = true
      link.deliver(out)
    }
  }

  /**
   * Sends what waits while the link has credit: QoS 1/2 into the window while it has room, QoS 0
   * held for credit beside them. When the link runs out of credit the rest waits for
   * `creditAvailable`.
   */
  pump(): void {
    const link = this.link
    while (this.active && (link as ClientLink).hasCredit()) {
      if (!this.taking && this.inflight.size < this.receiveMaximum) {
        const out = this.waiting?.shift()
        if (out !== undefined) {
          // The mirror entry leaves the stored queue and enters inflight in the same turn: one transaction.
          if (this.stored) this.ctx.storage.dropOldestOffline(this.clientId, 1)
          this.ctx.stats.offlineQueuedCurrent--
          if (this.expired(out)) continue
          this.transmit(out)
          continue
        }
        if ((this.waiting?.storedTail ?? 0) > 0) {
          // An empty window is filled at once (the first deliveries after CONNACK); one still
          // holding deliveries can wait for the rest of this task's PUBACKs (scheduleTake).
          if (this.inflight.size === 0) this.take()
          else this.scheduleTake()
        }
      }
      const out = this.waiting?.shiftHeld()
      if (out === undefined) break
      if (!this.expired(out)) this.transmit(out)
    }
    this.relieve(false)
    this.feed?.drain()
  }

  /**
   * Whether a delivery fed from outside (SessionFeed) can go out now: the link has credit and,
   * for QoS 1/2, the window has room once the session's own queue is empty (it goes first).
   */
  roomFor(qos: QoS): boolean {
    if (!this.active || !(this.link as ClientLink).hasCredit()) return false
    return qos === 0 || (!this.taking && this.queued === 0 && this.inflight.size < this.receiveMaximum)
  }

  /** Sends a delivery fed from outside after `roomFor` allowed it. False when the link refused it (too large). */
  sendFed(out: Outgoing): boolean {
    return this.transmit(out)
  }

  /** [MQTT-3.3.2-5] Expired while queued: deleted, never sent. */
  private expired(out: Outgoing): boolean {
    if (out.message.expiresAt === undefined || out.message.expiresAt > this.ctx.now()) return false
    this.ctx.stats.drop('expired')
    return true
  }

  /**
   * The read of the stored queue waits for the end of the current task (a microtask: no I/O comes
   * first): the PUBACKs of one socket read each free a slot, and one take then fills them all
   * instead of a take for the first and another for the rest. Storage commits what is staged
   * before it reads, so every take saved is a commit saved. `taking` holds new messages back in
   * the queue meanwhile, so order is kept [MQTT-4.6.0-5].
   */
  private scheduleTake(): void {
    this.taking = true
    queueMicrotask(() => {
      if (this.ended || this.ctx.halted) this.taking = false
      else this.take()
    })
  }

  /** Reads the next part of the stored queue; the window room it fills is reserved meanwhile. */
  private take(): void {
    const queue = this.queue()
    const n = Math.min(queue.storedTail, this.receiveMaximum - this.inflight.size)
    queue.storedTail -= n
    this.ctx.stats.offlineQueuedCurrent -= n
    this.taking = true
    this.ctx.storage
      .takeOffline(this.clientId, n)
      .then((messages) => this.taken(messages))
      .catch((err: unknown) => {
        this.taking = false
        this.ctx.logger.error({ err, clientId: this.clientId }, 'reading the offline queue failed')
      })
  }

  private taken(messages: readonly Message[]): void {
    this.taking = false
    if (this.ended || this.ctx.halted) return
    const now = this.ctx.now()
    for (const message of messages) {
      if (this.ended) return
      if (message.expiresAt !== undefined && message.expiresAt <= now) {
        this.ctx.stats.drop('expired')
        continue
      }
      const out = this.rematch(message)
      if (out === undefined) continue
      // Inflight (and so in Storage) in the same turn that removed it from the offline queue.
      this.window().assignId(out)
      if (this.active) {
        if (!(this.link as ClientLink).deliver(out)) {
          this.ctx.stats.drop('too_large')
          continue
        }
        this.ctx.stats.messagesSent++
        out.sent = true
        out.sentAt = now
      }
      this.track(out)
    }
    this.pump()
  }

  /**
   * Rebuilds the per-session delivery of a message read back from Storage, which keeps only the
   * Message: QoS and subscription ids from the subscriptions that match it now, RETAIN from the
   * message itself (queued in its delivered form, see QueuedForms). A message whose subscription
   * is gone is not delivered (allowed after UNSUBSCRIBE, MQTT 5 §3.10.4).
   */
  rematch(message: Message): Outgoing | undefined {
    let qos = -1
    let ids: number[] | undefined
    for (const sub of this.subscriptions.values()) {
      if (!topicMatches(sub.topicFilter, message.topic)) continue
      if (sub.options.noLocal && message.publisherId === this.clientId) continue
      qos = Math.max(qos, sub.options.qos)
      if (sub.options.subscriptionId !== undefined) (ids ??= []).push(sub.options.subscriptionId)
    }
    if (qos < 0) {
      this.ctx.stats.drop('unsubscribed')
      return undefined
    }
    return new Outgoing(message, Math.min(qos, message.qos) as QoS, message.retain, ids)
  }

  /** Accepts queued messages carried over from another owner (cluster takeover). */
  adopt(messages: readonly Message[]): void {
    for (const message of messages) {
      const out = this.rematch(message)
      if (out === undefined || out.qos === 0) continue
      this.queue().push(out)
      this.ctx.stats.offlineQueuedCurrent++
      if (this.stored) this.ctx.storage.appendOffline(this.clientId, message)
    }
  }

  /** The session is over: its counters leave the totals. Storage cleanup is the caller's. */
  end(): void {
    this.ended = true
    this.active = false
    this.link = undefined
    this.handle = undefined
    this.expiryTimer?.cancel()
    this.willTimer?.cancel()
    this.detachFeed()
    this.ctx.stats.inflightCurrent -= this.inflight.size
    this.ctx.stats.offlineQueuedCurrent -= this.queued
    this.waiting?.clear()
    this.dropHeld('disconnected')
    this.relieve(true)
  }
}
