import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'
import type { BrokerStats, DropReason } from '@fluxmq/core'
import type { AmqpServerStats } from '@fluxmq/amqp'
import type { MqttServerStats } from '@fluxmq/mqtt'
import type { QueueCounters, QueueStats } from '@fluxmq/queue'

type Counted = { readonly [K in keyof BrokerStats as BrokerStats[K] extends number ? K : never]: number }

const GAUGES: ReadonlyArray<[name: string, help: string, stat: keyof Counted]> = [
  ['fluxmq_connections', 'Client connections open now', 'connectionsCurrent'],
  ['fluxmq_sessions', 'Sessions held now, connected or not', 'sessionsCurrent'],
  ['fluxmq_subscriptions', 'Subscriptions held now', 'subscriptionsCurrent'],
  ['fluxmq_retained_messages', 'Retained messages stored now', 'retainedCurrent'],
  ['fluxmq_inflight_messages', 'Outgoing QoS 1/2 messages not yet acknowledged', 'inflightCurrent'],
  ['fluxmq_offline_queued_messages', 'QoS 1/2 messages waiting in session queues (offline, or beyond the window or credit)', 'offlineQueuedCurrent'],
  ['fluxmq_queued_bytes', 'An estimate of the memory the deliveries waiting in session queues hold (payload, topic and their objects)', 'queuedBytes'],
]

const COUNTERS: ReadonlyArray<[name: string, help: string, stat: keyof Counted]> = [
  ['fluxmq_connections_total', 'Client connections accepted since start', 'connectionsTotal'],
  ['fluxmq_messages_received_total', 'PUBLISH messages received from clients', 'messagesReceived'],
  ['fluxmq_messages_sent_total', 'PUBLISH messages sent to clients', 'messagesSent'],
  ['fluxmq_backpressure_events_total', 'Times a connected subscriber\'s full queue started slowing down its QoS 1/2 publishers', 'backpressureEvents'],
  ['fluxmq_bytes_received_total', 'Bytes received on client connections', 'bytesReceived'],
  ['fluxmq_bytes_sent_total', 'Bytes sent on client connections', 'bytesSent'],
]

/**
 * A Prometheus registry whose broker metrics read `stats()` at scrape time, so the publish path
 * pays nothing for them. Counters follow the broker's own monotonic counters by adding the delta
 * since the previous scrape. Process and Node.js runtime metrics come from prom-client's defaults.
 */
const DROP_REASONS: readonly DropReason[] = ['queue_full', 'expired', 'too_large', 'unsubscribed', 'disconnected']

/** What the MQTT front reports beside the core's counters. */
export interface FrontStats extends MqttServerStats {
  /** The whole process's buffered bytes (queued deliveries and unaccepted socket bytes), as limits.max_buffered_bytes counts them. */
  readonly bufferedBytes: number
}

/** Per-queue gauges (label `queue`), read from the engine's stats at scrape time. */
const QUEUE_GAUGES: ReadonlyArray<[name: string, help: string, value: (q: QueueStats) => number]> = [
  ['fluxmq_queue_depth', 'Messages in the queue\'s log (committed, not truncated)', (q) => q.depth],
  ['fluxmq_queue_pending', 'Messages delivered and not settled, all groups of the queue', (q) => q.pending],
  ['fluxmq_queue_consumers', 'Consumers attached to the queue, all groups', (q) => q.groups.reduce((n, g) => n + g.consumers.length, 0)],
]

/** Per-queue counters since the engine opened; `fluxmq_queue_<name>_total`. */
const QUEUE_COUNTERS: ReadonlyArray<[name: string, help: string, counter: keyof QueueCounters]> = [
  ['fluxmq_queue_appended_total', 'Messages appended to the queue', 'appended'],
  ['fluxmq_queue_deliveries_total', 'Deliveries to consumers, redeliveries included', 'deliveries'],
  ['fluxmq_queue_acks_total', 'Deliveries settled accepted', 'acks'],
  ['fluxmq_queue_nacks_total', 'Deliveries settled modified or released (nack)', 'nacks'],
  ['fluxmq_queue_dlq_moves_total', 'Messages moved to the dead-letter queue (rejected or max_deliveries)', 'deadLettered'],
  ['fluxmq_queue_timeouts_total', 'Deliveries that reached the visibility timeout unsettled', 'timeouts'],
]

function queueMetrics(registry: Registry, queues: () => readonly QueueStats[]): void {
  for (const [name, help, value] of QUEUE_GAUGES) {
    new Gauge({
      name,
      help,
      labelNames: ['queue'],
      registers: [registry],
      collect() {
        this.reset()
        for (const q of queues()) this.set({ queue: q.name }, value(q))
      },
    })
  }
  for (const [name, help, counter] of QUEUE_COUNTERS) {
    // The engine's counters only grow while it is open; reported per queue as deltas.
    const reported = new Map<string, number>()
    new Counter({
      name,
      help,
      labelNames: ['queue'],
      registers: [registry],
      collect() {
        for (const q of queues()) {
          const value = q.counters[counter]
          this.inc({ queue: q.name }, Math.max(0, value - (reported.get(q.name) ?? 0)))
          reported.set(q.name, value)
        }
      },
    })
  }
}

export function createMetrics(
  stats: () => BrokerStats,
  labels: { readonly node: string; readonly version: string },
  front?: () => FrontStats,
  queues?: () => readonly QueueStats[],
  amqp?: () => AmqpServerStats,
): Registry {
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
  for (const [name, help, stat] of COUNTERS) followingCounter(registry, name, help, () => stats()[stat])
  const droppedReported = Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>
  new Counter({
    name: 'fluxmq_messages_dropped_total',
    help: 'Messages not delivered to a subscriber, by reason: queue_full (QoS 0 over a full session queue, or the offline overflow policy), expired, too_large (client Maximum Packet Size), unsubscribed, disconnected (QoS 0 waiting for credit when the client left)',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      const byReason = stats().droppedByReason
      for (const reason of DROP_REASONS) {
        const value = byReason[reason]
        // Every reason is exported from the first scrape on, zero included, so dashboards see the series.
        this.inc({ reason }, value - droppedReported[reason])
        droppedReported[reason] = value
      }
    },
  })
  if (front !== undefined) {
    new Gauge({ name: 'fluxmq_buffered_bytes', help: 'Bytes limits.max_buffered_bytes counts: queued deliveries and bytes the sockets have not accepted', registers: [registry], collect() { this.set(front().bufferedBytes) } })
    followingCounter(registry, 'fluxmq_write_stall_disconnects_total', 'Clients disconnected because their socket accepted no byte for limits.write_stall_timeout', () => front().writeStallDisconnects)
    followingCounter(registry, 'fluxmq_memory_pauses_total', 'Times a publisher stopped being read because the process was above limits.max_buffered_bytes', () => front().memoryPauses)
  }
  if (queues !== undefined) queueMetrics(registry, queues)
  if (amqp !== undefined) amqpMetrics(registry, amqp)
  new Gauge({ name: 'fluxmq_build_info', help: 'Always 1; labels name the node and version', labelNames: ['node', 'version'], registers: [registry] }).set(labels, 1)
  return registry
}

/** The AMQP front: connections and links open now (links by direction: `in` the peer sends, `out` it receives). */
function amqpMetrics(registry: Registry, amqp: () => AmqpServerStats): void {
  new Gauge({ name: 'fluxmq_amqp_connections', help: 'AMQP 1.0 connections open now', registers: [registry], collect() { this.set(amqp().connections) } })
  new Gauge({
    name: 'fluxmq_amqp_links',
    help: 'AMQP 1.0 links attached now, by direction: in (the peer sends: publishes) or out (the peer receives: subscriptions and queue consumers)',
    labelNames: ['direction'],
    registers: [registry],
    collect() {
      const stats = amqp()
      this.set({ direction: 'in' }, stats.linksIn)
      this.set({ direction: 'out' }, stats.linksOut)
    },
  })
  followingCounter(registry, 'fluxmq_amqp_connections_total', 'AMQP 1.0 connections accepted since start', () => amqp().connectionsTotal)
}

/** A counter that follows a monotonic counter of the broker by adding the delta since the last scrape. */
function followingCounter(registry: Registry, name: string, help: string, read: () => number): void {
  let reported = 0
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const value = read()
      if (value > reported) this.inc(value - reported)
      reported = value
    },
  })
}
