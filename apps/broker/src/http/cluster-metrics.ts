import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type { ClusterNode } from '@fluxmq/cluster'

/**
 * The cluster's metrics, read from the node at scrape time (per-peer transport counters) or fed
 * by its events (takeovers): forwarded messages and batches per peer, what waits for a peer's
 * credit, whether its circuit is closed, and takeover latency.
 */
export function registerClusterMetrics(registry: Registry, node: ClusterNode): void {
  const peers = () => node.report().peers
  const perPeer = (name: string, help: string, stat: 'acceptedMessages' | 'acceptedBatches' | 'rejectedBatches' | 'resentBatches'): void => {
    const reported = new Map<string, number>()
    new Counter({
      name,
      help,
      labelNames: ['peer'],
      registers: [registry],
      collect() {
        for (const state of peers()) {
          const value = state[stat]
          // A peer that came back gets a fresh Peer whose counts restart at zero.
          const before = reported.get(state.peer) ?? 0
          this.inc({ peer: state.peer }, value >= before ? value - before : value)
          reported.set(state.peer, value)
        }
      },
    })
  }
  perPeer('fluxmq_cluster_forwarded_messages_total', 'Publishes forwarded to a peer and accepted by it', 'acceptedMessages')
  perPeer('fluxmq_cluster_forwarded_batches_total', 'Forward batches a peer accepted', 'acceptedBatches')
  perPeer('fluxmq_cluster_rejected_batches_total', 'Forward batches a peer refused', 'rejectedBatches')
  perPeer('fluxmq_cluster_resent_batches_total', 'Forward batches sent again after a broken stream', 'resentBatches')
  new Gauge({
    name: 'fluxmq_cluster_peer_pending_messages',
    help: 'Publishes waiting for credit from a peer',
    labelNames: ['peer'],
    registers: [registry],
    collect() {
      this.reset()
      for (const state of peers()) this.set({ peer: state.peer }, state.pendingMessages)
    },
  })
  new Gauge({
    name: 'fluxmq_cluster_peer_up',
    help: '1 while the circuit breaker toward a peer is closed',
    labelNames: ['peer'],
    registers: [registry],
    collect() {
      this.reset()
      for (const state of peers()) this.set({ peer: state.peer }, state.breaker === 'closed' ? 1 : 0)
    },
  })
  new Gauge({
    name: 'fluxmq_cluster_members',
    help: 'Nodes registered in the cluster, this one included',
    registers: [registry],
    collect() {
      this.set(node.report().members.length)
    },
  })
  const takeovers = new Histogram({
    name: 'fluxmq_cluster_takeover_seconds',
    help: 'Session takeovers from another node: claim in etcd to the state received',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [registry],
  })
  node.cluster.onTakeover((tookMs) => takeovers.observe(tookMs / 1000))
}
