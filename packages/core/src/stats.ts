import type { BrokerStats } from './api.js'

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
  bytesReceived = 0
  bytesSent = 0
  inflightCurrent = 0
  offlineQueuedCurrent = 0
}
