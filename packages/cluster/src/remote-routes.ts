import { TopicTrie } from '@fluxmq/core'
import type { RouteChange } from '@fluxmq/cluster-etcd'
import { unshared } from '@fluxmq/topic'

/**
 * The route table of the other nodes as one topic trie: filter → node. Filters are stored without
 * `$share/<group>/`, since a shared subscription receives what its filter matches; `a` and
 * `$share/g/a` of one node are two routes behind one trie entry, counted so that removing one
 * keeps the node.
 */
export class RemoteRoutes {
  private readonly trie = new TopicTrie<string>()
  /** (trie filter, node) → how many route keys stand behind it. */
  private readonly counts = new Map<string, number>()
  private readonly scratch: string[] = []

  constructor(private readonly localNode: string) {}

  apply(change: RouteChange): void {
    if (change.nodeId === this.localNode) return
    const filter = unshared(change.filter)
    const key = `${change.nodeId}\u0000${filter}`
    const count = this.counts.get(key) ?? 0
    if (change.type === 'added') {
      this.counts.set(key, count + 1)
      if (count === 0) this.trie.add(filter, change.nodeId)
    } else if (count > 0) {
      if (count > 1) {
        this.counts.set(key, count - 1)
      } else {
        this.counts.delete(key)
        this.trie.delete(filter, change.nodeId)
      }
    }
  }

  /**
   * The nodes with a subscription matching `topic`, each once, in a set the caller owns. Matching
   * is done once per publish; the scratch array is reused across calls.
   */
  nodesFor(topic: string): Set<string> | undefined {
    const matched = this.trie.match(topic, this.scratch)
    if (matched.length === 0) return undefined
    const nodes = new Set(matched)
    matched.length = 0
    return nodes
  }
}
