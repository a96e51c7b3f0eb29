import { TopicTrie, type Message } from '@fluxmq/core'
import type { RouteChange } from '@fluxmq/cluster-etcd'
import { parseSharedFilter } from '@fluxmq/topic'

/** Which node serves a shared group for one message (SharedPlacement); undefined: every node serves its own members. */
export interface SharedTarget {
  nodeFor(filter: string, message: Message): string | undefined
}

/** One node's route for a shared group: `filter` is `$share/<group>/<filter>` as subscribed. */
interface SharedRoute {
  readonly node: string
  readonly filter: string
}

/**
 * The route table of the other nodes as topic tries: ordinary filters → node, and shared groups
 * (matched by their filter without `$share/<group>/`) → (node, group filter). A shared group's
 * publish goes only to the node that serves the group for it, not to every node with a member.
 */
export class RemoteRoutes {
  private readonly direct = new TopicTrie<string>()
  private readonly shared = new TopicTrie<SharedRoute>()
  /** (trie filter, node) → how many route keys stand behind a direct entry. */
  private readonly counts = new Map<string, number>()
  /** (group filter, node) → its entry in the shared trie. */
  private readonly groups = new Map<string, SharedRoute>()
  private readonly scratch: string[] = []
  private readonly sharedScratch: SharedRoute[] = []

  constructor(
    private readonly localNode: string,
    private readonly placement?: SharedTarget,
  ) {}

  apply(change: RouteChange): void {
    if (change.nodeId === this.localNode) return
    const group = parseSharedFilter(change.filter)
    if (group !== undefined) {
      const key = `${change.nodeId}\u0000${change.filter}`
      const known = this.groups.get(key)
      if (change.type === 'added' && known === undefined) {
        const route = { node: change.nodeId, filter: change.filter }
        this.groups.set(key, route)
        this.shared.add(group.filter, route)
      } else if (change.type === 'removed' && known !== undefined) {
        this.groups.delete(key)
        this.shared.delete(group.filter, known)
      }
      return
    }
    const key = `${change.nodeId}\u0000${change.filter}`
    const count = this.counts.get(key) ?? 0
    if (change.type === 'added') {
      this.counts.set(key, count + 1)
      if (count === 0) this.direct.add(change.filter, change.nodeId)
    } else if (count > 0) {
      if (count > 1) {
        this.counts.set(key, count - 1)
      } else {
        this.counts.delete(key)
        this.direct.delete(change.filter, change.nodeId)
      }
    }
  }

  /**
   * The nodes a publish on `topic` goes to, each once, in a set the caller owns: those with a
   * matching ordinary subscription, and for each matching shared group the node that serves it
   * for `message` (every node with a member when there is no placement or no message). Matching
   * is done once per publish; the scratch arrays are reused across calls.
   */
  nodesFor(topic: string, message?: Message): Set<string> | undefined {
    const matched = this.direct.match(topic, this.scratch)
    const groups = this.shared.match(topic, this.sharedScratch)
    if (matched.length === 0 && groups.length === 0) return undefined
    const nodes = new Set(matched)
    matched.length = 0
    for (const route of groups) {
      const serving = message === undefined ? undefined : this.placement?.nodeFor(route.filter, message)
      if (serving === undefined || serving === route.node) nodes.add(route.node)
    }
    groups.length = 0
    return nodes.size === 0 ? undefined : nodes
  }
}
