import type { Message } from '@fluxmq/core'
import type { RouteTable } from '@fluxmq/cluster-etcd'
import { isDollarTopic } from '@fluxmq/topic'
import type { SharedTarget } from './remote-routes.js'

/**
 * Which node serves a shared subscription (`$share/<group>/<filter>`) for one message, when its
 * members are spread over several nodes [MQTT-4.8.2]: a hash of what the message carries to every
 * node (topic, publish time, publisher) picks one of the nodes holding a route for the group, in
 * node-id order. Every node computes it from the same replicated route table, so one node
 * delivers to the group and the others leave it; no coordination per message.
 *
 * While a route change is still on its way to some nodes, their views differ and a message can
 * reach the group twice or not at all; the route table converges within its watch latency.
 */
export class SharedPlacement implements SharedTarget {
  /** Filter → its nodes sorted by id; dropped when a route of the filter changes. */
  private readonly sorted = new Map<string, readonly string[]>()

  constructor(
    private readonly localNode: string,
    private readonly routes: RouteTable,
  ) {}

  serves(filter: string, message: Message): boolean {
    const node = this.nodeFor(filter, message)
    return node === undefined || node === this.localNode
  }

  /**
   * The node that serves `filter` for `message`; undefined when each node serves its own members:
   * `$` topics ($SYS is per node), or no route of the group is visible here yet (nobody else
   * knows the group either).
   */
  nodeFor(filter: string, message: Message): string | undefined {
    if (isDollarTopic(message.topic)) return undefined
    const nodes = this.nodesOf(filter)
    if (nodes.length === 0) return undefined
    return nodes[placementHash(message) % nodes.length]
  }

  changed(filter: string): void {
    this.sorted.delete(filter)
  }

  private nodesOf(filter: string): readonly string[] {
    let nodes = this.sorted.get(filter)
    if (nodes === undefined) {
      nodes = [...this.routes.nodesFor(filter)].sort()
      this.sorted.set(filter, nodes)
    }
    return nodes
  }
}

/**
 * FNV-1a over the topic, publish time and publisher id, then murmur3's finalizer (FNV's low bits
 * alone follow the parity of the input, and a modulo over few nodes reads only those).
 */
function placementHash(message: Message): number {
  let h = 0x811c9dc5
  const mix = (text: string): void => {
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
    h = Math.imul(h ^ 0, 0x01000193)
  }
  mix(message.topic)
  mix(String(message.publishedAt))
  mix(message.publisherId ?? '')
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}
