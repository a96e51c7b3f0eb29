import { BrokerError, BrokerErrorCode } from './errors.js'
import { Fifo } from './fifo.js'
import type { Message } from './message.js'
import type {
  InflightRecord,
  SessionRecord,
  Storage,
  StoredSession,
  StoredState,
  SubscriptionOptions,
} from './storage.js'

class ClientEntry {
  session: SessionRecord | undefined
  readonly subscriptions = new Map<string, SubscriptionOptions>()
  readonly inflight = new Map<number, InflightRecord>()
  /** Packet id → released (PUBREL came). */
  readonly incomingQos2 = new Map<number, boolean>()
  readonly offline = new Fifo<Message>()
}

const resolved = Promise.resolve()

/**
 * The single-node default Storage: everything in process memory, so it survives a Broker being
 * stopped and a new one started on the same instance (what tests use to model a restart), not
 * the process. Writes apply at once and `sync()` resolves at once. Use while closed throws
 * FLUXMQ_ERR_STORAGE_CLOSED, as a real backend would fail. Rows for a client without a session
 * record are kept (a backend without foreign keys) but `open()` returns only sessions that have one.
 */
export class MemoryStorage implements Storage {
  private readonly clients = new Map<string, ClientEntry>()
  private readonly retained = new Map<string, Message>()
  private isOpen = false

  async open(): Promise<StoredState> {
    this.isOpen = true
    const sessions: StoredSession[] = []
    for (const entry of this.clients.values()) {
      if (entry.session === undefined) continue
      sessions.push({
        session: entry.session,
        subscriptions: [...entry.subscriptions.values()],
        inflight: [...entry.inflight.values()].map((r) => ({ ...r, message: fresh(r.message) })),
        incomingQos2: idsWhere(entry.incomingQos2, false),
        releasedQos2: idsWhere(entry.incomingQos2, true),
        offlineCount: entry.offline.length,
      })
    }
    return { sessions, retained: [...this.retained.values()].map(fresh) }
  }

  async close(): Promise<void> {
    this.isOpen = false
  }

  sync(): Promise<void> {
    this.check()
    return resolved
  }

  putSession(record: SessionRecord): void {
    this.entry(record.clientId).session = record
  }

  deleteSession(clientId: string): void {
    this.check()
    this.clients.delete(clientId)
  }

  putSubscription(clientId: string, sub: SubscriptionOptions): void {
    this.entry(clientId).subscriptions.set(sub.filter, sub)
  }

  deleteSubscription(clientId: string, filter: string): void {
    this.check()
    this.clients.get(clientId)?.subscriptions.delete(filter)
  }

  putInflight(clientId: string, record: InflightRecord): void {
    this.entry(clientId).inflight.set(record.deliveryId, record)
  }

  deleteInflight(clientId: string, deliveryId: number): void {
    this.check()
    this.clients.get(clientId)?.inflight.delete(deliveryId)
  }

  putIncomingQos2(clientId: string, packetId: number): void {
    this.entry(clientId).incomingQos2.set(packetId, false)
  }

  releaseIncomingQos2(clientId: string, packetId: number): void {
    this.check()
    const ids = this.clients.get(clientId)?.incomingQos2
    if (ids?.has(packetId) === true) ids.set(packetId, true)
  }

  deleteIncomingQos2(clientId: string, packetId: number): void {
    this.check()
    this.clients.get(clientId)?.incomingQos2.delete(packetId)
  }

  appendOffline(clientId: string, message: Message): void {
    this.entry(clientId).offline.push(message)
  }

  dropOldestOffline(clientId: string, n: number): void {
    this.check()
    const offline = this.clients.get(clientId)?.offline
    if (offline === undefined) return
    for (let i = 0; i < n && offline.shift() !== undefined; i++);
  }

  async takeOffline(clientId: string, limit: number): Promise<Message[]> {
    this.check()
    const offline = this.clients.get(clientId)?.offline
    const out: Message[] = []
    if (offline === undefined) return out
    for (let i = 0; i < limit; i++) {
      const m = offline.shift()
      if (m === undefined) break
      out.push(fresh(m))
    }
    return out
  }

  putRetained(message: Message): void {
    this.check()
    this.retained.set(message.topic, message)
  }

  deleteRetained(topic: string): void {
    this.check()
    this.retained.delete(topic)
  }

  private entry(clientId: string): ClientEntry {
    this.check()
    let entry = this.clients.get(clientId)
    if (entry === undefined) {
      entry = new ClientEntry()
      this.clients.set(clientId, entry)
    }
    return entry
  }

  private check(): void {
    if (!this.isOpen) throw new BrokerError(BrokerErrorCode.StorageClosed, 'MemoryStorage is not open')
  }
}

function idsWhere(ids: ReadonlyMap<number, boolean>, released: boolean): number[] {
  const out: number[] = []
  for (const [id, r] of ids) if (r === released) out.push(id)
  return out
}

/** What a real backend returns: the message without the adapter-private `wire` cache. */
function fresh(message: Message): Message {
  if (message.wire === undefined) return message
  const { wire: _wire, ...rest } = message
  return rest
}
