import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'
import type { BrokerStats } from '@fluxmq/core'

type Counted = { readonly [K in keyof BrokerStats]: BrokerStats[K] }

const GAUGES: ReadonlyArray<[name: string, help: string, stat: keyof Counted]> = [
  ['fluxmq_connections', 'Client connections open now', 'connectionsCurrent'],
  ['fluxmq_sessions', 'Sessions held now, connected or not', 'sessionsCurrent'],
  ['fluxmq_subscriptions', 'Subscriptions held now', 'subscriptionsCurrent'],
  ['fluxmq_retained_messages', 'Retained messages stored now', 'retainedCurrent'],
  ['fluxmq_inflight_messages', 'Outgoing QoS 1/2 messages not yet acknowledged', 'inflightCurrent'],
  ['fluxmq_offline_queued_messages', 'Messages queued for disconnected persistent sessions', 'offlineQueuedCurrent'],
]

const COUNTERS: ReadonlyArray<[name: string, help: string, stat: keyof Counted]> = [
  ['fluxmq_connections_total', 'Client connections accepted since start', 'connectionsTotal'],
  ['fluxmq_messages_received_total', 'PUBLISH messages received from clients', 'messagesReceived'],
  ['fluxmq_messages_sent_total', 'PUBLISH messages sent to clients', 'messagesSent'],
  ['fluxmq_messages_dropped_total', 'Messages dropped (offline queue overflow, expiry, too large for the client)', 'messagesDropped'],
  ['fluxmq_bytes_received_total', 'Bytes received on client connections', 'bytesReceived'],
  ['fluxmq_bytes_sent_total', 'Bytes sent on client connections', 'bytesSent'],
]

/**
 * A Prometheus registry whose broker metrics read `stats()` at scrape time, so the publish path
 * pays nothing for them. Counters follow the broker's own monotonic counters by adding the delta
 * since the previous scrape. Process and Node.js runtime metrics come from prom-client's defaults.
 */
export function createMetrics(stats: () => BrokerStats, labels: { readonly node: string; readonly version: string }): Registry {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  for (const [name, help, stat] of GAUGES) {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(stats()[stat])
      },
    })
  }
  for (const [name, help, stat] of COUNTERS) {
    let reported = 0
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        const value = stats()[stat]
        if (value > reported) this.inc(value - reported)
        reported = value
      },
    })
  }
  new Gauge({ name: 'fluxmq_build_info', help: 'Always 1; labels name the node and version', labelNames: ['node', 'version'], registers: [registry] }).set(labels, 1)
  return registry
}
