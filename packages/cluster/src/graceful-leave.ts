import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from '@fluxmq/core'
import type { NodeInfo } from '@fluxmq/cluster-etcd'

export interface GracefulLeaveOptions {
  readonly nodeId: string
  /** Every registered node, this one included, as the registry's watch sees them. */
  readonly members: () => ReadonlyMap<string, NodeInfo>
  /** How many sessions this node still owns. */
  readonly owned: () => number
  /** Whether etcd has quorum: without it no claim commits, so no session can move. */
  readonly quorate: () => boolean
  readonly logger: Logger
}

/** How often the drain looks at what is still owned here. */
const DRAIN_POLL_MS = 50

/**
 * The first half of a graceful leave, while this node is still a registered member (marked
 * `leaving`): its clients are sent to the serving nodes, and it keeps answering their takeovers
 * until every session it owns has moved, so nothing queued here is left behind. The second half
 * (deregister, revoke the lease, stop the member) is `ClusterNode.leave()`.
 */
export class GracefulLeave {
  private turn = 0
  private readonly log: Logger

  constructor(private readonly options: GracefulLeaveOptions) {
    this.log = options.logger.child({ component: 'cluster', nodeId: options.nodeId })
  }

  /**
   * The MQTT address for the next client told to move (its DISCONNECT's Server Reference): the
   * serving nodes' addresses in turn, so they share the clients. Undefined when no other node serves.
   */
  serverReference(): string | undefined {
    const targets = this.servingAddresses()
    if (targets.length === 0) return undefined
    return targets[this.turn++ % targets.length]
  }

  /**
   * Resolves once no session is owned here (each moved to the node its client reconnected to, or
   * ended), when no other node serves or etcd has no quorum (nothing could move), or after
   * `timeoutMs`. Sessions still
   * here then stay in this node's storage; their ownership goes with the lease. Resolves with how
   * many those are.
   */
  async drained(timeoutMs: number): Promise<number> {
    const started = performance.now()
    const initially = this.options.owned()
    for (;;) {
      const remaining = this.options.owned()
      const tookMs = Math.round(performance.now() - started)
      if (remaining === 0) {
        this.log.info({ moved: initially, tookMs }, 'every session moved; leaving')
        return 0
      }
      if (this.servingAddresses().length === 0) {
        this.log.warn({ remaining, tookMs }, 'no other node serves; leaving with the sessions still here')
        return remaining
      }
      if (!this.options.quorate()) {
        this.log.warn({ remaining, tookMs }, 'etcd has no quorum, so no session can move; leaving with the sessions still here')
        return remaining
      }
      if (tookMs >= timeoutMs) {
        this.log.warn({ remaining, timeoutMs }, 'drain timed out; leaving with the sessions still here')
        return remaining
      }
      await sleep(DRAIN_POLL_MS)
    }
  }

  /** MQTT addresses of the other registered nodes that are not leaving, in node-id order. */
  private servingAddresses(): string[] {
    const addresses: string[] = []
    const members = [...this.options.members().values()].sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0))
    for (const info of members) {
      const mqtt = info.clientAddrs['mqtt']
      if (info.nodeId !== this.options.nodeId && info.leaving !== true && mqtt !== undefined) addresses.push(mqtt)
    }
    return addresses
  }
}
