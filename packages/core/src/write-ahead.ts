import type { Message } from './message.js'
import type { InflightRecord, SessionRecord, Storage, StoredState, SubscriptionOptions } from './storage.js'

/**
 * The core's view of its Storage: every write to a session's state is noted against that
 * session, so adapters can hold a connection's packets until what they announce to its client
 * would survive a restart (BrokerCore.durable(clientId)). The barrier is per session, not per
 * node: a connection whose session staged nothing is never held behind someone else's commit.
 *
 * One `sync()` per batch of staged writes, not one per write or per session: the first question
 * after writes were staged closes them into one commit that every session written in the batch
 * waits on.
 *
 * Retained writes are noted against nobody: what depends on them is the publisher's
 * acknowledgement, which waits on its own PublishResult.durable.
 */
export class WriteAheadStorage implements Storage {
  /** Client ids whose session state was written since the last batch was closed. */
  private staged = new Set<string>()
  /** The commit each session still waits for; an entry leaves once that commit settles. */
  private readonly pending = new Map<string, Promise<void>>()
  private closed = false

  constructor(private readonly inner: Storage) {}

  /**
   * Resolves once every write staged so far for `clientId`'s session is durable (rejects when
   * Storage failed); undefined when none is waiting. Asking consumes nothing, so several adapters
   * may ask about the same session. Without a client id: once every write staged so far, of any
   * session or retained, is durable.
   */
  barrier(clientId?: string): Promise<void> | undefined {
    // Closed: the broker waited for the last commit before it closed Storage, so a connection
    // that ends afterwards has nothing left to wait for (and a closed Storage cannot be asked).
    if (this.closed) return undefined
    if (clientId === undefined) return this.inner.sync()
    if (this.staged.size !== 0) this.closeBatch()
    return this.pending.size === 0 ? undefined : this.pending.get(clientId)
  }

  private closeBatch(): void {
    const sessions = this.staged
    this.staged = new Set()
    const commit = this.inner.sync()
    for (const clientId of sessions) this.pending.set(clientId, commit)
    const settled = (): void => {
      for (const clientId of sessions) if (this.pending.get(clientId) === commit) this.pending.delete(clientId)
    }
    commit.then(settled, settled)
  }

  open(): Promise<StoredState> {
    this.closed = false
    return this.inner.open()
  }

  close(): Promise<void> {
    this.closed = true
    return this.inner.close()
  }

  // Leaves the staged sessions as they are: their packets still wait for their own barrier.
  sync(): Promise<void> {
    return this.inner.sync()
  }

  putSession(record: SessionRecord): void {
    this.staged.add(record.clientId)
    this.inner.putSession(record)
  }

  deleteSession(clientId: string): void {
    this.staged.add(clientId)
    this.inner.deleteSession(clientId)
  }

  putSubscription(clientId: string, sub: SubscriptionOptions): void {
    this.staged.add(clientId)
    this.inner.putSubscription(clientId, sub)
  }

  deleteSubscription(clientId: string, filter: string): void {
    this.staged.add(clientId)
    this.inner.deleteSubscription(clientId, filter)
  }

  putInflight(clientId: string, record: InflightRecord): void {
    this.staged.add(clientId)
    this.inner.putInflight(clientId, record)
  }

  deleteInflight(clientId: string, deliveryId: number): void {
    this.staged.add(clientId)
    this.inner.deleteInflight(clientId, deliveryId)
  }

  putIncomingQos2(clientId: string, packetId: number): void {
    this.staged.add(clientId)
    this.inner.putIncomingQos2(clientId, packetId)
  }

  releaseIncomingQos2(clientId: string, packetId: number): void {
    this.staged.add(clientId)
    this.inner.releaseIncomingQos2(clientId, packetId)
  }

  deleteIncomingQos2(clientId: string, packetId: number): void {
    this.staged.add(clientId)
    this.inner.deleteIncomingQos2(clientId, packetId)
  }

  appendOffline(clientId: string, message: Message): void {
    this.staged.add(clientId)
    this.inner.appendOffline(clientId, message)
  }

  dropOldestOffline(clientId: string, n: number): void {
    this.staged.add(clientId)
    this.inner.dropOldestOffline(clientId, n)
  }

  takeOffline(clientId: string, limit: number): Promise<Message[]> {
    this.staged.add(clientId)
    return this.inner.takeOffline(clientId, limit)
  }

  putRetained(message: Message): void {
    this.inner.putRetained(message)
  }

  deleteRetained(topic: string): void {
    this.inner.deleteRetained(topic)
  }
}
