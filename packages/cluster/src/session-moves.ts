import { TopicTrie, type CarriedDelivery, type Logger, type Message, type SubscriptionOptions } from '@fluxmq/core'
import type { RouteTable } from '@fluxmq/cluster-etcd'
import type { ForwardRouting } from '@fluxmq/cluster-transport'
import { isSharedFilter } from '@fluxmq/topic'

/** How long the old owner relays what arrives for a session it surrendered. */
const RELAY_MS = 10_000
/** How long a session's arrival marks are kept: past every relay its old owner may still send. */
const MARKS_MS = 2 * RELAY_MS
/** How long the old owner keeps a moved session's route when the new owner's never shows up (e.g. a Clean Start). */
const ROUTE_HANDOVER_MS = 5_000
/** Publishes a new owner holds for one session while its state is in transit; beyond, the oldest go (logged). */
const MAX_HELD = 65_536
/** How long a new owner waits for the old one before it routes the session's filters itself. */
const OWNER_PATIENCE_MS = 500

export interface SessionMovesOptions {
  readonly nodeId: string
  /** The route table: which nodes hold a route for a filter, and its changes. */
  readonly routes: Pick<RouteTable, 'nodesFor' | 'onChange'>
  /** Sends a publish to one node (through its peer, with backpressure) and resolves once it accepted it. */
  readonly send: (node: string, message: Message, routing: ForwardRouting) => Promise<void>
  /** Adds one reference to this node's route for a filter in etcd (RouteTable.add, logged on failure). */
  readonly addRoute: (filter: string) => void
  /** Removes this node's route for a filter in etcd (RouteTable.remove, logged on failure). */
  readonly removeRoute: (filter: string) => void
  readonly logger: Logger
}

/** A session this node surrendered: what arrives here for it afterwards goes on to its new owner. */
interface Relay {
  readonly clientId: string
  readonly to: string
  readonly epoch: number
  readonly filters: readonly string[]
  readonly timer: NodeJS.Timeout
}

/** A publish this node routed, with every node that routes it too (this one included). */
interface Seen {
  readonly message: Message
  readonly nodes: readonly string[]
  /** The node that forwarded it here and its arrivals then (InboundBatch.arrivals), when one did. */
  readonly origin?: Origin
}

/**
 * Where a forwarded publish came from: its sender, the sender's arrivals when it routed it, and
 * its routing sequence of it (InboundBatch.seqs; absent from a sender that sends none).
 */
export interface Origin {
  readonly node: string
  readonly arrivals: number
  readonly seq?: number
}

/** Publishes recorded while a session's state is in transit, on either side of the move. */
interface Window {
  readonly seen: Seen[]
  dropped: number
  /**
   * Deliveries another copy of the session had unsettled (a returning node hands them on) that
   * came while the session was acquired here: given to it once attached, with their delivery ids.
   */
  carried?: (() => void)[]
}

/** Sends to one node held back while this node acquires a session from it. */
interface Hold {
  windows: number
  /** Each send, with the publish when it is one this node routed (not a relay for one client). */
  readonly queued: { readonly send: (arrivals: number) => void; readonly routed: Message | undefined }[]
}

/**
 * Nothing acknowledged is lost while a session moves from node A to node B (SPEC §6):
 *
 * - **A, the old owner,** keeps its routes for the session's filters until B's route for each is
 *   in the route table (so every publishing node always has A or B for them: etcd's watch orders
 *   B's put before A's delete everywhere), and relays to B, for that client alone, every publish it
 *   routes after the surrender that matches the session's subscriptions and that B does not route
 *   itself (B is not among the nodes the publishing node sent it to). What A routed before the
 *   surrender is in the transferred state.
 * - **B, the new owner,** holds every publish it routes from its claim until the transferred state
 *   is attached (`SessionClaim.held`): the core offers them to the session alone once it is there.
 *   Its own publishes to A wait meanwhile, so A routes them after the surrender and leaves them to B;
 *   those sent before wait for A's acknowledgement before B asks for the state, so A routed them
 *   before the surrender. Those still waiting for an earlier acquisition from A when B claims the
 *   session are held for it too: they reach A after its surrender as well. When A has not
 *   answered within `OWNER_PATIENCE_MS`, B also routes the session's filters as etcd saved them
 *   until the session is attached: A may be partitioned or dead, and its routes vanish with its
 *   lease, maybe before the session is attached here and routed by the core; a publish from a
 *   third node then reached neither A nor B, and was acknowledged to its publisher all the same.
 *   Not from the claim on: a publish that reaches both while A still delivers to the client's
 *   old connection would reach the client twice.
 *
 * The forwarded message names the nodes that route it (`other_nodes`), which is how A knows
 * whether B has it. Except from B itself: B may have forwarded it to A before the session arrived
 * at B (sent before its claim, applied by A late: resent after a broken stream, or delayed while A
 * was cut off or frozen). Each node counts the sessions that arrive at it (`arrivals`), every
 * forwarded batch carries the sender's count from when it routed it, and A relays what B sent
 * with that count echoed: B offers it to the session only when the session arrived after B
 * routed it.
 *
 * A publish that reaches both A (before the surrender) and B (while B holds), which happens when
 * B routed the session's topic already (another subscriber on B, or B's route from an earlier
 * stint not yet gone), is in the transferred state and held: B offers only the held copies the
 * state does not carry (`heldNotTransferred`). Shared subscriptions are not relayed (their member
 * is picked per message by the serving node).
 */
export class SessionMoves {
  private readonly relays = new Map<string, Relay>()
  private readonly relayTrie = new TopicTrie<Relay>()
  private readonly scratch: Relay[] = []
  /** Client id → what this node routed since it claimed the session from another node. */
  private readonly acquiring = new Map<string, Window>()
  /** Surrenders whose stored queue is still being read: what this node routes meanwhile is replayed to the relay. */
  private readonly surrendering = new Set<Window>()
  /** Node → sends waiting for this node's acquisitions from it. */
  private readonly holds = new Map<string, Hold>()
  /** Publishes held for sessions while they were acquired here and given to them once attached, by session. */
  private readonly heldGiven = new WeakMap<Message, Set<string>>()
  /** Route removals the core asked for during the synchronous part of a surrender. */
  private capturing: string[] | undefined
  /** Filter → new owners whose route for it this node waits for before removing its own. */
  private readonly handovers = new Map<string, { readonly node: string; readonly done: () => void }[]>()
  /**
   * Sessions that began to be routed here (claimed or acquired), counted from this start's time in
   * microseconds: a count a peer echoes from this node's previous life stays below every arrival
   * of this one (see `arrivals`).
   */
  private arrivalCount = Date.now() * 1_000
  /** Client id → `arrivals` once its session arrived here, while it is here. */
  private readonly arrivedAt = new Map<string, number>()
  /** Node → the highest routing sequence of its forwarded publishes applied here (see `applied`). */
  private readonly appliedSeq = new Map<string, number>()
  /** Client id → `appliedSeq` as it was when its session arrived here, for `MARKS_MS`. */
  private readonly arrivalMarks = new Map<string, ReadonlyMap<string, number>>()
  /** Client id → the node its session came from when it arrived here, when known, for `MARKS_MS`. */
  private readonly arrivedFromNode = new Map<string, string>()
  /** The copy of `appliedSeq` arrivals share until it changes (a mass reconnect copies it once per batch applied, not per session). */
  private marks: ReadonlyMap<string, number> | undefined
  private readonly log: Logger

  constructor(private readonly options: SessionMovesOptions) {
    this.log = options.logger
    options.routes.onChange((change) => {
      if (change.type !== 'added') return
      const waiting = this.handovers.get(change.filter)
      if (waiting === undefined) return
      for (const w of waiting.filter((w) => w.node === change.nodeId)) w.done()
    })
  }

  /** Whether a publish routed here must be looked at (a cheap test for the hot path). */
  get active(): boolean {
    return this.relays.size > 0 || this.acquiring.size > 0 || this.surrendering.size > 0
  }

  /**
   * How many sessions began to be routed here so far: a publish this node routes under this count
   * reaches every session that arrived at or below it. Forwarded batches carry it.
   */
  get arrivals(): number {
    return this.arrivalCount
  }

  /**
   * This node registers on a new lease: every publish it routes from now on carries a count no
   * earlier batch carried (the registration publishes it, NodeInfo.routedFrom), so a receiver
   * tells a batch routed under an earlier registration (whose sessions other nodes may hold now).
   */
  newRegistration(): number {
    this.arrivalCount += 1
    return this.arrivalCount
  }

  /** A session is no longer here (ended, surrendered, lost): a relay for it finds no arrival to compare. */
  left(clientId: string): void {
    this.arrivedAt.delete(clientId)
  }

  /** Whether sends to `node` wait (this node is acquiring a session from it). */
  holding(node: string): boolean {
    return this.holds.has(node)
  }

  /**
   * Queues a send to a held node; it runs, in order, when the hold ends, with `arrivals` then:
   * every session acquired from that node meanwhile has the publish (`routed`, when this node
   * routed it) held, so a relay of it back here is not offered to them again.
   */
  hold(node: string, send: (arrivals: number) => void, routed: Message | undefined): void {
    this.holds.get(node)?.queued.push({ send, routed })
  }

  /**
   * A publish this node routed (its own, or one forwarded here from `origin`), with every node
   * that routes it (this one included). Returns the acceptance of what it was relayed to, if anything.
   */
  routed(message: Message, nodes: readonly string[], origin?: Origin): Promise<void> | undefined {
    const seen: Seen = origin === undefined ? { message, nodes } : { message, nodes, origin }
    for (const window of this.acquiring.values()) this.record(window, seen)
    let waits: Promise<void>[] | undefined
    for (const window of this.surrendering) {
      window.seen.push(seen)
      ;(waits ??= []).push((window as SurrenderWindow).replayed)
    }
    const relayed = this.relay(seen, undefined)
    if (relayed !== undefined) (waits ??= []).push(relayed)
    return waits === undefined ? undefined : Promise.all(waits).then(() => undefined)
  }

  /**
   * A publish another node relayed for `clientId`, with the nodes that route it. Held while the
   * session is still being acquired here; else offered to it (`deliver`); else, when the session
   * moved on from here too, relayed further; else dropped (logged): the session is gone.
   * `arrivals`: this node's own count when it forwarded the publish to the relaying node (echoed):
   * when the session had arrived here by then, this node routed it to the session itself.
   * `carried`: the delivery it was in the sender's copy of the session (a returning node hands it
   * on), passed to `deliver`; held or relayed further, it goes as a plain publish.
   */
  relayedHere(
    clientId: string,
    message: Message,
    nodes: readonly string[],
    deliver: (clientId: string, message: Message, carried?: CarriedDelivery) => boolean,
    arrivals?: number,
    carried?: CarriedDelivery,
    origin?: { readonly node: string; readonly seq: number },
  ): Promise<void> | undefined {
    if (arrivals !== undefined && arrivals >= (this.arrivedAt.get(clientId) ?? Number.POSITIVE_INFINITY)) return undefined
    // Forwarded here by a third node too: routed here with the session present (or still to be,
    // the third node's batch being late here), unless it was applied before the session arrived.
    if (origin !== undefined && !(origin.seq <= (this.arrivalMarks.get(clientId)?.get(origin.node) ?? Number.NEGATIVE_INFINITY))) return undefined
    const window = this.acquiring.get(clientId)
    // Held as a plain publish it would lose its delivery id, and the client would not recognise it.
    if (window !== undefined && carried !== undefined) (window.carried ??= []).push(() => deliver(clientId, message, carried))
    else if (window !== undefined) this.record(window, { message, nodes })
    else if (!deliver(clientId, message, carried)) {
      const relay = this.relays.get(clientId)
      if (relay !== undefined && !nodes.includes(relay.to)) return this.send(relay, { message, nodes })
      this.log.debug({ clientId, topic: message.topic }, 'relayed publish for a session that is not here')
    }
    return undefined
  }

  /**
   * This node claimed `clientId` and asks `from` for its state: from now on what it routes is
   * held for the session, its own sends to `from` wait, and, once `from` kept it waiting for
   * `OWNER_PATIENCE_MS`, it routes the session's `filters` (as etcd saved them). Returns what ends
   * it: `held` hands the messages over (the core calls it once the state is attached), `abandon`
   * drops them.
   */
  beginAcquire(clientId: string, from: string, filters: readonly string[]): { readonly held: () => readonly Message[]; readonly abandon: () => void } {
    this.dropRelay(clientId)
    this.arrive(clientId, from)
    // Released when the acquisition ends: by then the attached session routes them itself.
    let routed: readonly string[] = []
    const patience = setTimeout(() => {
      routed = filters.filter((f) => !isSharedFilter(f))
      for (const filter of routed) this.options.addRoute(filter)
    }, OWNER_PATIENCE_MS)
    patience.unref()
    const window: Window = { seen: [], dropped: 0 }
    this.acquiring.set(clientId, window)
    const hold = this.holds.get(from)
    if (hold === undefined) this.holds.set(from, { windows: 1, queued: [] })
    else {
      hold.windows += 1
      // Routed here before this claim and held for an earlier one from the same node: `from` gets
      // them only after this surrender and leaves them to this node, which sent them.
      for (const { routed: message } of hold.queued) if (message !== undefined) this.record(window, { message, nodes: [] })
    }
    let ended = false
    const end = (): void => {
      if (ended) return
      ended = true
      if (this.acquiring.get(clientId) === window) this.acquiring.delete(clientId)
      this.release(from)
      clearTimeout(patience)
      for (const filter of routed) this.options.removeRoute(filter)
      if (window.dropped > 0) this.log.warn({ clientId, dropped: window.dropped, kept: MAX_HELD }, 'more publishes arrived during a session move than are held; the oldest were dropped')
    }
    return {
      held: () => {
        end()
        // The core attaches the session in the continuation of this call: by the next turn it is there.
        const carried = window.carried
        if (carried !== undefined) setImmediate(() => carried.forEach((give) => give()))
        const messages = window.seen.map((s) => s.message)
        for (const message of messages) {
          const to = this.heldGiven.get(message)
          if (to === undefined) this.heldGiven.set(message, new Set([clientId]))
          else to.add(clientId)
        }
        return messages
      },
      abandon: end,
    }
  }

  /**
   * A session this node stopped serving without surrendering it (lost with the lease, or found in
   * storage at start-up) that `to` owns now under `epoch`: for `RELAY_MS` what this node routes for
   * it goes on to `to`, as after a surrender. Such a publish was sent here before the session moved
   * (while this node could not be reached, then sent again): this node acknowledged it to its sender
   * and no other copy of the session has it.
   */
  handedOn(clientId: string, to: string, epoch: number, filters: readonly string[]): void {
    this.left(clientId)
    this.addRelay(clientId, to, epoch, filters.filter((f) => !isSharedFilter(f)))
  }

  /**
   * A local claim of a session that another node may relay for: it is here now, nothing to relay.
   * `from`: the node that served it before, when known (its ownership key or etcd's saved copy).
   */
  claimedHere(clientId: string, from?: string): void {
    this.dropRelay(clientId)
    this.arrive(clientId, from)
  }

  /** Counts a session that begins to be routed here; one here already keeps its arrival. */
  private arrive(clientId: string, from: string | undefined): void {
    if (this.arrivedAt.has(clientId)) return
    this.arrivalCount += 1
    this.arrivedAt.set(clientId, this.arrivalCount)
    const marks = (this.marks ??= new Map(this.appliedSeq))
    this.arrivalMarks.set(clientId, marks)
    if (from === undefined) this.arrivedFromNode.delete(clientId)
    else this.arrivedFromNode.set(clientId, from)
    setTimeout(() => {
      if (this.arrivalMarks.get(clientId) !== marks) return
      this.arrivalMarks.delete(clientId)
      this.arrivedFromNode.delete(clientId)
    }, MARKS_MS).unref()
  }

  /**
   * Whether the session of `clientId` here arrived within `MARKS_MS` from one of `nodes`
   * (ForwardRouting.resend), and, with `after`, after this node had the publish: one of
   * `after.node`'s it applied under routing sequence `after.seq`, or one of its own it routed
   * when its `arrivals` were `after.arrivals`.
   */
  cameFrom(clientId: string, nodes: readonly string[], after?: { readonly node: string; readonly seq: number } | { readonly arrivals: number }): boolean {
    const from = this.arrivedFromNode.get(clientId)
    const arrival = this.arrivedAt.get(clientId)
    if (from === undefined || arrival === undefined || !nodes.includes(from)) return false
    if (after === undefined) return true
    if ('arrivals' in after) return arrival > after.arrivals
    return (this.arrivalMarks.get(clientId)?.get(after.node) ?? Number.NEGATIVE_INFINITY) >= after.seq
  }

  /**
   * Whether `message` was given to the session of `clientId` as one held while the session was
   * acquired here (a send to the old owner queued meanwhile is among them): a resend of it for
   * the sessions that came from that node (UnattendedResends) skips this one.
   */
  gaveHeld(message: Message, clientId: string): boolean {
    return this.heldGiven.get(message)?.has(clientId) === true
  }

  /**
   * `node` lost its lease having routed up to `upTo` (its routing sequence): what it forwarded up to
   * there and this node holds for sessions it acquires is dropped. Those sessions were on `node`
   * then and had the publish from it; their state did not come from it.
   */
  forgetStale(node: string, upTo: number): void {
    for (const window of this.acquiring.values()) {
      // In place: a window holds up to MAX_HELD publishes.
      const seen = window.seen
      let kept = 0
      for (const s of seen) if (s.origin?.node !== node || s.origin.seq === undefined || s.origin.seq > upTo) seen[kept++] = s
      seen.length = kept
    }
  }

  /**
   * A batch from `node` was routed here, up to its routing sequence `seq`. A node's publishes are
   * applied here in its order, so a session that arrives here later records how far they got
   * (`arrivalMarks`): a publish of that node at or below the mark was routed here without it.
   */
  applied(node: string, seq: number): void {
    if (seq <= (this.appliedSeq.get(node) ?? 0)) return
    this.appliedSeq.set(node, seq)
    this.marks = undefined
  }

  /**
   * Surrenders a session: `surrender` runs the core's surrender, whose synchronous part takes the
   * session out of the router (its route removals are captured here); what this node routes from
   * then on is kept and, once the state is known, relayed to `to` for the session's filters.
   */
  async surrender<T extends { readonly subscriptions: readonly SubscriptionOptions[] }>(
    clientId: string,
    to: string,
    epoch: number,
    surrender: () => Promise<T | undefined>,
  ): Promise<T | undefined> {
    this.left(clientId)
    const removals: string[] = []
    let pending: Promise<T | undefined>
    this.capturing = removals
    try {
      pending = surrender()
    } finally {
      this.capturing = undefined
    }
    let replayed!: () => void
    const window: SurrenderWindow = { seen: [], dropped: 0, replayed: new Promise<void>((resolve) => (replayed = resolve)) }
    this.surrendering.add(window)
    let transferred: T | undefined
    try {
      transferred = await pending
    } finally {
      this.surrendering.delete(window)
      const filters = transferred === undefined ? [] : transferred.subscriptions.map((s) => s.filter).filter((f) => !isSharedFilter(f))
      for (const filter of removals) {
        if (filters.includes(filter)) this.handOver(filter, to)
        else this.options.removeRoute(filter)
      }
      if (transferred === undefined) replayed()
      else {
        const relay = this.addRelay(clientId, to, epoch, filters)
        const sends = window.seen.flatMap((seen) => this.relay(seen, relay) ?? [])
        void Promise.allSettled(sends).then(() => replayed())
      }
    }
    return transferred
  }

  /** A route removal the core asks for; during a surrender it waits for the surrender's outcome. */
  removeRoute(filter: string): boolean {
    if (this.capturing === undefined) return false
    this.capturing.push(filter)
    return true
  }

  close(): void {
    for (const relay of this.relays.values()) clearTimeout(relay.timer)
    this.relays.clear()
    for (const waiting of this.handovers.values()) for (const w of waiting) w.done()
  }

  private record(window: Window, seen: Seen): void {
    if (window.seen.length >= MAX_HELD) {
      window.seen.shift()
      window.dropped += 1
    }
    window.seen.push(seen)
  }

  /**
   * Relays a routed publish to every moved session it matches whose new owner does not route it,
   * or sent it here (and decides, see `relayedHere`).
   */
  private relay(seen: Seen, only: Relay | undefined): Promise<void> | undefined {
    if (this.relays.size === 0) return undefined
    const matched = this.relayTrie.match(seen.message.topic, this.scratch)
    let sends: Promise<void>[] | undefined
    const done = new Set<Relay>()
    for (const relay of matched) {
      if (done.has(relay) || (only !== undefined && relay !== only) || (seen.nodes.includes(relay.to) && !decidesItself(seen, relay.to))) continue
      done.add(relay)
      ;(sends ??= []).push(this.send(relay, seen))
    }
    matched.length = 0
    return sends === undefined ? undefined : Promise.all(sends).then(() => undefined)
  }

  private send(relay: Relay, seen: Seen): Promise<void> {
    const otherNodes = seen.nodes.filter((n) => n !== this.options.nodeId)
    const routing: { -readonly [K in keyof ForwardRouting]: ForwardRouting[K] } = { relayFor: relay.clientId }
    if (otherNodes.length > 0) routing.otherNodes = otherNodes
    const origin = seen.origin
    if (origin?.node === relay.to) routing.arrivals = origin.arrivals
    else if (origin?.seq !== undefined && seen.nodes.includes(relay.to)) routing.origin = { node: origin.node, seq: origin.seq }
    const accepted = this.options.send(relay.to, seen.message, routing)
    return accepted.catch((err: unknown) => {
      this.log.warn({ err, clientId: relay.clientId, node: relay.to, epoch: relay.epoch }, 'publish for a moved session not relayed to its new owner')
      throw err
    })
  }

  private addRelay(clientId: string, to: string, epoch: number, filters: readonly string[]): Relay {
    this.dropRelay(clientId)
    const timer = setTimeout(() => this.dropRelay(clientId), RELAY_MS)
    timer.unref()
    const relay: Relay = { clientId, to, epoch, filters, timer }
    this.relays.set(clientId, relay)
    for (const filter of filters) this.relayTrie.add(filter, relay)
    return relay
  }

  private dropRelay(clientId: string): void {
    const relay = this.relays.get(clientId)
    if (relay === undefined) return
    clearTimeout(relay.timer)
    this.relays.delete(clientId)
    for (const filter of relay.filters) this.relayTrie.delete(filter, relay)
  }

  /** Removes this node's route for `filter` once `node`'s is in the table (or after ROUTE_HANDOVER_MS). */
  private handOver(filter: string, node: string): void {
    if (this.options.routes.nodesFor(filter).has(node)) {
      this.options.removeRoute(filter)
      return
    }
    const waiting = this.handovers.get(filter) ?? []
    this.handovers.set(filter, waiting)
    let timer: NodeJS.Timeout | undefined = undefined
    const entry = {
      node,
      done: (): void => {
        clearTimeout(timer)
        const at = waiting.indexOf(entry)
        if (at < 0) return
        waiting.splice(at, 1)
        if (waiting.length === 0 && this.handovers.get(filter) === waiting) this.handovers.delete(filter)
        this.options.removeRoute(filter)
      },
    }
    waiting.push(entry)
    timer = setTimeout(entry.done, ROUTE_HANDOVER_MS)
    timer.unref()
  }

  private release(node: string): void {
    const hold = this.holds.get(node)
    if (hold === undefined) return
    hold.windows -= 1
    if (hold.windows > 0) return
    this.holds.delete(node)
    for (const { send } of hold.queued) send(this.arrivalCount)
  }
}

interface SurrenderWindow extends Window {
  /** Resolves once what was recorded in it was relayed (or found nothing to relay to). */
  readonly replayed: Promise<void>
}

/**
 * Whether a publish the new owner `to` routes itself goes to it as a relay all the same, for it to
 * decide: it forwarded it here itself (it may have done so before the session arrived there; the
 * echoed arrivals tell), or a third node that counts its routing forwarded it to both (`to` may
 * have applied it before the session arrived; the origin's routing sequence tells). A publish of
 * this node's own clients is routed after the surrender, when the session was there already.
 */
function decidesItself(seen: Seen, to: string): boolean {
  return seen.origin !== undefined && (seen.origin.node === to || seen.origin.seq !== undefined)
}

/**
 * The held publishes less those the transferred state already carries: a publish that reached
 * the old owner before the surrender (in its queue or in flight) and this node while it held
 * would otherwise reach the session twice, also at QoS 2. Messages carry no id across nodes; one
 * is known by its publisher, publish time, topic and payload, and each transferred copy cancels
 * one held copy, so identical publishes in the same millisecond still arrive as often as sent.
 */
export function heldNotTransferred(held: readonly Message[], transferred: { readonly inflight: readonly { readonly message: Message }[]; readonly offline: readonly Message[] }): Message[] {
  if (held.length === 0) return []
  const key = (m: Message): string => `${m.publisherId ?? ''}\u0000${m.publishedAt}\u0000${m.topic}\u0000${m.payload.toString('base64')}`
  const carried = new Map<string, number>()
  for (const m of [...transferred.inflight.map((r) => r.message), ...transferred.offline]) carried.set(key(m), (carried.get(key(m)) ?? 0) + 1)
  return held.filter((m) => {
    const n = carried.get(key(m)) ?? 0
    if (n === 0) return true
    carried.set(key(m), n - 1)
    return false
  })
}
