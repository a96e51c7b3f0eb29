import type { BrokerStats, DropReason } from './api.js'

/** The broker's counters, mutated in place by the modules that own each event. */
export class Stats implements BrokerStats {
  connectionsCurrent = 0
  connectionsTotal = 0
  /** The most connections open at once since start ($SYS only). */
  connectionsMaximum = 0
  sessionsCurrent = 0
  /** Sessions ended by their Session Expiry Interval since start ($SYS only). */
  sessionsExpired = 0
  subscriptionsCurrent = 0
  retainedCurrent = 0
  messagesReceived = 0
  messagesSent = 0
  messagesDropped = 0
  readonly droppedByReason: Record<DropReason, number> = { queue_full: 0, expired: 0, too_large: 0, unsubscribed: 0, disconnected: 0 }
  bytesReceived = 0
  bytesSent = 0
  inflightCurrent = 0
  offlineQueuedCurrent = 0
  queuedBytes = 0
  backpressureEvents = 0

  /** One message not delivered to one subscriber. */
  drop(reason: DropReason, n = 1): void {
    this.messagesDropped += n
    this.droppedByReason[reason] += n
  }
}
