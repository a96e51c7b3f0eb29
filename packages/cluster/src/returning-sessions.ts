import { setTimeout as sleep } from 'node:timers/promises'
import type { CarriedDelivery, Logger, Message, Storage, StoredSession } from '@fluxmq/core'
import type { SessionOwner, SessionOwnership } from '@fluxmq/cluster-etcd'
import type { ForwardRouting } from '@fluxmq/cluster-transport'

export interface ReturningSessionsOptions {
  readonly nodeId: string
  readonly ownership: SessionOwnership
  /** The broker's storage, which still holds the sessions handed on (not loaded by the core). */
  readonly storage: Storage
  /** Sends one message to a node, resolving once that node accepted it and made it durable. */
  readonly send: (node: string, message: Message, routing: ForwardRouting) => Promise<void>
  readonly logger: Logger
}

const FIRST_RETRY_MS = 500
const MAX_RETRY_MS = 5_000

/**
 * A node that returns with its data (SPEC §6): for each stored session another node owns now, what
 * this node had queued for its client (unsettled inflight deliveries, then the offline queue) is
 * sent to the owner for that client alone (`relay_for`, delivered there through `deliverTo`), and
 * the local copy is deleted only once the owner accepted all of it (its sync done) and etcd still
 * names the same owner under the same epoch afterwards. An owner that changed meanwhile (the
 * session moved on, or ended and was claimed again) may have dropped what it got: the next one is
 * sent everything again. Until the delete commits, the copy stays in storage, so a node that dies
 * mid-way sends it all again when it returns: at least once. Inflight deliveries go with their
 * delivery id and state (`carried`): the owner resends them under the same packet id with DUP, or
 * sends the PUBREL of a QoS 2 one the client had received, so the client recognises them.
 */
export class ReturningSessions {
  private readonly log: Logger
  private readonly pending = new Map<string, Promise<void>>()
  private closed = false

  constructor(private readonly options: ReturningSessionsOptions) {
    this.log = options.logger
  }

  /** Sessions still being handed on (for tests and the report). */
  get handing(): number {
    return this.pending.size
  }

  /** Starts handing `stored` on to the node that owns it now; runs in the background until done or closed. */
  handOn(stored: StoredSession, owner: SessionOwner): void {
    const clientId = stored.session.clientId
    if (this.pending.has(clientId)) return
    const run = this.run(stored, owner)
      .catch((err: unknown) => this.log.error({ err, clientId }, 'queued messages of a returning session not handed on; kept in storage'))
      .finally(() => this.pending.delete(clientId))
    this.pending.set(clientId, run)
  }

  /** The hand-on of one client's copy while it runs (settles when done or given up), else undefined. */
  handingOn(clientId: string): Promise<void> | undefined {
    return this.pending.get(clientId)
  }

  /** Resolves once every session handed on so far is done (or given up); for tests and shutdown. */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending.values()])
  }

  /** Stops retrying; what was not handed on stays in storage for the next start. */
  close(): void {
    this.closed = true
  }

  private async run(stored: StoredSession, firstOwner: SessionOwner): Promise<void> {
    const clientId = stored.session.clientId
    // A session without expiry (stored for its will alone) ended with its connection: the owner's
    // session of that client began anew, and gets nothing of it.
    const messages = stored.session.expiryInterval === 0 ? [] : await this.queued(stored)
    if (messages.length === 0) {
      this.log.info({ clientId, owner: firstOwner.node }, 'stored session owned by another node had nothing queued; local copy deleted')
      await this.drop(clientId)
      return
    }
    let owner: SessionOwner | undefined = firstOwner
    let retryMs = FIRST_RETRY_MS
    while (!this.closed) {
      if (owner === undefined || owner.node === this.options.nodeId) {
        // No node holds the session now (or it came back here, where the core writes it afresh):
        // the copy is not sent anywhere; a later start of this node claims it with the rest.
        this.log.warn({ clientId, owner: owner?.node, messages: messages.length }, 'returning session has no other owner now; queued messages kept in storage')
        return
      }
      const to: SessionOwner = owner
      try {
        const started = performance.now()
        await Promise.all(messages.map(({ message, carried }) => this.options.send(to.node, message, carried === undefined ? { relayFor: clientId } : { relayFor: clientId, carried })))
        const now = (await this.options.ownership.read(clientId)).owner
        if (now?.node === to.node && now.epoch === to.epoch) {
          await this.drop(clientId)
          const tookMs = Math.round(performance.now() - started)
          this.log.info({ clientId, owner: to.node, epoch: to.epoch, messages: messages.length, tookMs }, 'queued messages of a returning session handed on to its owner')
          return
        }
        this.log.info({ clientId, sentTo: to.node, owner: now?.node }, 'owner changed while queued messages were handed on; sending again')
        owner = now
      } catch (err) {
        this.log.warn({ err, clientId, owner: to.node, retryMs }, 'queued messages of a returning session not accepted by its owner; retrying')
        await sleep(retryMs)
        retryMs = Math.min(MAX_RETRY_MS, retryMs * 2)
        if (!this.closed) owner = (await this.options.ownership.read(clientId).catch(() => ({ owner: to }))).owner
      }
    }
  }

  /**
   * Inflight deliveries not yet settled, oldest first, with their ids and state, then the whole
   * offline queue. The queue is read by taking it and appending it back in the same event-loop
   * turn, one transaction in the group-committing storage: the stored copy is unchanged if this
   * node dies from here on.
   */
  private async queued(stored: StoredSession): Promise<{ readonly message: Message; readonly carried?: CarriedDelivery }[]> {
    const { clientId } = stored.session
    const inflight = stored.inflight.map((record) => ({
      message: record.message,
      carried: { deliveryId: record.deliveryId, qos: record.qos, retain: record.retain, received: record.state === 'received' },
    }))
    if (stored.offlineCount === 0) return inflight
    const offline = await this.options.storage.takeOffline(clientId, stored.offlineCount)
    for (const message of offline) this.options.storage.appendOffline(clientId, message)
    return [...inflight, ...offline.map((message) => ({ message }))]
  }

  private async drop(clientId: string): Promise<void> {
    this.options.storage.deleteSession(clientId)
    await this.options.storage.sync()
  }
}
