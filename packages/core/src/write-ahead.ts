import type { Message } from './message.js'
import type { InflightRecord, SessionRecord, Storage, StoredState, SubscriptionOptions } from './storage.js'

/**
 * The core's view of its Storage: every write marks a durability barrier as needed, so adapters
 * can hold the packets of a turn until what they announce to clients would survive a restart
 * (BrokerCore.durable()). One barrier per turn, not one per write.
 */
export class WriteAheadStorage implements Storage {
  private staged = false

  constructor(private readonly inner: Storage) {}

  /** Resolves when every write staged so far is durable; undefined when nothing was staged since the last barrier. */
  barrier(): Promise<void> | undefined {
    if (!this.staged) return undefined
    this.staged = false
    return this.inner.sync()
  }

  open(): Promise<StoredState> {
    return this.inner.open()
  }

  close(): Promise<void> {
    return this.inner.close()
  }

  // Leaves the barrier armed: packets queued this turn may depend on writes another caller is syncing.
  sync(): Promise<void> {
    return this.inner.sync()
  }

  putSession(record: SessionRecord): void {
    this.staged = true
    this.inner.putSession(record)
  }

  deleteSession(clientId: string): void {
    this.staged = true
    this.inner.deleteSession(clientId)
  }

  putSubscription(clientId: string, sub: SubscriptionOptions): void {
    this.staged = true
    this.inner.putSubscription(clientId, sub)
  }

  deleteSubscription(clientId: string, filter: string): void {
    this.staged = true
    this.inner.deleteSubscription(clientId, filter)
  }

  putInflight(clientId: string, record: InflightRecord): void {
    this.staged = true
    this.inner.putInflight(clientId, record)
  }

  deleteInflight(clientId: string, packetId: number): void {
    this.staged = true
    this.inner.deleteInflight(clientId, packetId)
  }

  putIncomingQos2(clientId: string, packetId: number): void {
    this.staged = true
    this.inner.putIncomingQos2(clientId, packetId)
  }

  releaseIncomingQos2(clientId: string, packetId: number): void {
    this.staged = true
    this.inner.releaseIncomingQos2(clientId, packetId)
  }

  deleteIncomingQos2(clientId: string, packetId: number): void {
    this.staged = true
    this.inner.deleteIncomingQos2(clientId, packetId)
  }

  appendOffline(clientId: string, message: Message): void {
    this.staged = true
    this.inner.appendOffline(clientId, message)
  }

  dropOldestOffline(clientId: string, n: number): void {
    this.staged = true
    this.inner.dropOldestOffline(clientId, n)
  }

  takeOffline(clientId: string, limit: number): Promise<Message[]> {
    this.staged = true
    return this.inner.takeOffline(clientId, limit)
  }

  putRetained(message: Message): void {
    this.staged = true
    this.inner.putRetained(message)
  }

  deleteRetained(topic: string): void {
    this.staged = true
    this.inner.deleteRetained(topic)
  }
}
