import type {
  BrokerCore,
  BrokerStats,
  ClientLink,
  ConnectRequest,
  ConnectResult,
  DisconnectOptions,
  InflightRecord,
  Message,
  ReasonCode,
  SessionHandle,
  SessionProtocol,
  SessionRecord,
  Storage,
  StoredState,
  SubscribeResult,
  SubscriptionOptions,
} from '@fluxmq/core'

/** Session Expiry Interval meaning "never" (MQTT 5 §3.1.2.11.2). */
const NEVER = 0xffff_ffff
/** SUBACK / UNSUBACK codes below 0x80 are successes. */
const FAILURE = 0x80

export interface SessionEntry {
  readonly clientId: string
  username: string | undefined
  protocol: SessionProtocol
  remoteAddress: string | undefined
  connected: boolean
  connectedAt: number | undefined
  disconnectedAt: number | undefined
  /** Seconds, as the broker applied it; 0xFFFFFFFF = never expires. */
  expiryInterval: number
  readonly subscriptions: Map<string, SubscriptionOptions>
  /** The live connection's handle; calls through any other handle are stale and ignored. */
  handle: SessionHandle | undefined
}

/**
 * The node's sessions and subscriptions as the admin API shows them. The core keeps its sessions
 * private, so this view is built from the public seams: the sessions Storage loads at start, and
 * the BrokerCore calls the adapters make (connect, subscribe, unsubscribe, disconnect). It follows
 * the core's outcomes (granted codes, applied expiry, session present), not the requests.
 */
export class SessionDirectory {
  private readonly entries = new Map<string, SessionEntry>()
  /** The disconnected entries: the only ones sweep() has to look at. */
  private readonly away = new Set<SessionEntry>()

  constructor(
    private readonly now: () => number,
    /** session.max_expiry in seconds (0 = none): caps an expiry changed at DISCONNECT, as the core does. */
    private readonly maxExpiry: number,
  ) {}

  /** Sessions restored from storage: disconnected until their clients return. */
  loaded(state: StoredState): void {
    const now = this.now()
    for (const stored of state.sessions) {
      const record = stored.session
      this.put({
        clientId: record.clientId,
        username: undefined,
        protocol: record.protocol,
        remoteAddress: undefined,
        connected: false,
        connectedAt: undefined,
        disconnectedAt: record.disconnectedAt ?? now,
        expiryInterval: record.expiryInterval,
        subscriptions: new Map(stored.subscriptions.map((sub) => [sub.filter, sub])),
        handle: undefined,
      })
    }
  }

  private put(entry: SessionEntry): void {
    const previous = this.entries.get(entry.clientId)
    if (previous !== undefined) this.away.delete(previous)
    this.entries.set(entry.clientId, entry)
    if (!entry.connected) this.away.add(entry)
  }

  connected(request: ConnectRequest, result: ConnectResult): void {
    if (!result.ok) return
    const previous = this.entries.get(request.clientId)
    this.put({
      clientId: request.clientId,
      username: request.username,
      protocol: request.protocol,
      remoteAddress: request.remoteAddress,
      connected: true,
      connectedAt: this.now(),
      disconnectedAt: undefined,
      expiryInterval: result.sessionExpiryInterval,
      // [MQTT-3.2.2-3] A present session keeps its subscriptions; otherwise they start empty.
      subscriptions: result.sessionPresent && previous !== undefined ? previous.subscriptions : new Map(),
      handle: result.session,
    })
  }

  subscribed(handle: SessionHandle, requests: readonly SubscriptionOptions[], result: SubscribeResult): void {
    const entry = this.live(handle)
    if (entry === undefined) return
    requests.forEach((request, index) => {
      const code = result.codes[index]
      if (code !== undefined && code < FAILURE) entry.subscriptions.set(request.filter, { ...request, qos: code as 0 | 1 | 2 })
    })
  }

  unsubscribed(handle: SessionHandle, filters: readonly string[], codes: readonly ReasonCode[]): void {
    const entry = this.live(handle)
    if (entry === undefined) return
    filters.forEach((filter, index) => {
      if (codes[index] === 0) entry.subscriptions.delete(filter)
    })
  }

  disconnected(handle: SessionHandle, options: DisconnectOptions): void {
    const entry = this.live(handle)
    if (entry === undefined) return
    if (options.sessionExpiryInterval !== undefined) {
      entry.expiryInterval = this.maxExpiry > 0 ? Math.min(options.sessionExpiryInterval, this.maxExpiry) : options.sessionExpiryInterval
    }
    entry.connected = false
    entry.handle = undefined
    // Even an expiry of 0 is left to sweep(): during a takeover the old connection's disconnect
    // arrives before the new connect's result, and the session (with its subscriptions) lives on.
    entry.disconnectedAt = this.now()
    this.away.add(entry)
  }

  /** Drops disconnected sessions whose expiry has passed (the core ends them on the same schedule). */
  sweep(): void {
    const now = this.now()
    for (const entry of this.away) {
      if (entry.expiryInterval !== NEVER && (entry.disconnectedAt ?? now) + entry.expiryInterval * 1000 <= now) {
        this.away.delete(entry)
        this.entries.delete(entry.clientId)
      }
    }
  }

  get(clientId: string): SessionEntry | undefined {
    this.sweep()
    return this.entries.get(clientId)
  }

  all(): IterableIterator<SessionEntry> {
    this.sweep()
    return this.entries.values()
  }

  get size(): number {
    return this.entries.size
  }

  private live(handle: SessionHandle): SessionEntry | undefined {
    const entry = this.entries.get(handle.clientId)
    return entry?.handle === handle ? entry : undefined
  }
}

/**
 * The BrokerCore the adapters talk to: the broker itself for every call on the message path, with
 * the session lifecycle calls reported to the directory on their way back.
 */
export function observeBroker(broker: BrokerCore, directory: SessionDirectory): BrokerCore {
  return {
    nodeId: broker.nodeId,
    get stats(): BrokerStats {
      return broker.stats
    },
    start: () => broker.start(),
    stop: () => broker.stop(),
    async connect(request: ConnectRequest, link: ClientLink): Promise<ConnectResult> {
      const result = await broker.connect(request, link)
      directory.connected(request, result)
      return result
    },
    activate: broker.activate.bind(broker),
    disconnect(session: SessionHandle, options: DisconnectOptions): void {
      broker.disconnect(session, options)
      directory.disconnected(session, options)
    },
    publish: broker.publish.bind(broker),
    receiveQos2: broker.receiveQos2.bind(broker),
    releaseQos2: broker.releaseQos2.bind(broker),
    puback: broker.puback.bind(broker),
    pubrec: broker.pubrec.bind(broker),
    pubcomp: broker.pubcomp.bind(broker),
    subscribe(session: SessionHandle, requests: readonly SubscriptionOptions[]): SubscribeResult {
      const result = broker.subscribe(session, requests)
      directory.subscribed(session, requests, result)
      return result
    },
    deliverRetained: broker.deliverRetained.bind(broker),
    unsubscribe(session: SessionHandle, filters: readonly string[]): ReasonCode[] {
      const codes = broker.unsubscribe(session, filters)
      directory.unsubscribed(session, filters, codes)
      return codes
    },
    tick: broker.tick.bind(broker),
    countBytes: broker.countBytes.bind(broker),
  }
}

/**
 * Storage as the broker sees it, reporting what `open()` loaded to the directory and whether the
 * store is open (readiness). Every other call goes straight through.
 */
export class ObservedStorage implements Storage {
  private state: 'new' | 'open' | 'closed' = 'new'

  constructor(
    readonly inner: Storage,
    private readonly onLoaded: (state: StoredState) => void,
  ) {}

  get isOpen(): boolean {
    return this.state === 'open'
  }

  async open(): Promise<StoredState> {
    const state = await this.inner.open()
    this.state = 'open'
    this.onLoaded(state)
    return state
  }

  async close(): Promise<void> {
    this.state = 'closed'
    await this.inner.close()
  }

  sync(): Promise<void> {
    return this.inner.sync()
  }
  putSession(record: SessionRecord): void {
    this.inner.putSession(record)
  }
  deleteSession(clientId: string): void {
    this.inner.deleteSession(clientId)
  }
  putSubscription(clientId: string, sub: SubscriptionOptions): void {
    this.inner.putSubscription(clientId, sub)
  }
  deleteSubscription(clientId: string, filter: string): void {
    this.inner.deleteSubscription(clientId, filter)
  }
  putInflight(clientId: string, record: InflightRecord): void {
    this.inner.putInflight(clientId, record)
  }
  deleteInflight(clientId: string, packetId: number): void {
    this.inner.deleteInflight(clientId, packetId)
  }
  putIncomingQos2(clientId: string, packetId: number): void {
    this.inner.putIncomingQos2(clientId, packetId)
  }
  deleteIncomingQos2(clientId: string, packetId: number): void {
    this.inner.deleteIncomingQos2(clientId, packetId)
  }
  appendOffline(clientId: string, message: Message): void {
    this.inner.appendOffline(clientId, message)
  }
  dropOldestOffline(clientId: string, n: number): void {
    this.inner.dropOldestOffline(clientId, n)
  }
  takeOffline(clientId: string, limit: number): Promise<Message[]> {
    return this.inner.takeOffline(clientId, limit)
  }
  putRetained(message: Message): void {
    this.inner.putRetained(message)
  }
  deleteRetained(topic: string): void {
    this.inner.deleteRetained(topic)
  }
}
