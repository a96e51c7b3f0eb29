import { TopicTrie } from '@fluxmq/core'
import { unshared } from '@fluxmq/topic'

/** How long a dead node's removed routes are remembered when its registration vanishes later. */
const REMOVED_MEMORY_MS = 1_000
/** Longest wait for a dead node's filter to be routed again (by the leader's adoption). */
export const VANISHED_WAIT_MS = 1_000

interface Vanished {
  readonly filter: string
  readonly settled: Promise<void>
  readonly settle: () => void
  readonly timer: NodeJS.Timeout
}

/**
 * The routes of a node that died (its registration vanished without a graceful leave), from the
 * moment they vanish with its lease until some node routes the same filter again (the leader
 * adopting the dead node's persistent sessions, about 30 ms later) or `waitMs` passed. A QoS 1/2
 * publish matching one of them meanwhile would reach nobody and be acknowledged all the same, so
 * it waits (`settling`) and is routed after. A route deletion and the registration's deletion are
 * the same etcd revision but arrive through two watches in either order: removals are remembered
 * for a moment, and a removal of a node already known dead counts at once.
 */
export class VanishedRoutes {
  private readonly vanished = new Map<string, Vanished>()
  /** The same entries by filter, matched per publish: a dead node may have had thousands. */
  private readonly trie = new TopicTrie<Vanished>()
  private readonly scratch: Vanished[] = []
  /** Recent route removals, oldest first. */
  private readonly removed: { readonly node: string; readonly filter: string; readonly at: number }[] = []
  /** Nodes that died within the last `waitMs`, with the time. */
  private readonly dead = new Map<string, number>()

  constructor(private readonly waitMs = VANISHED_WAIT_MS) {}

  /** A node's route was deleted (an unsubscribe, a moved session, or its lease's end). */
  routeRemoved(node: string, routed: string): void {
    const filter = unshared(routed)
    const now = Date.now()
    const diedAt = this.dead.get(node)
    if (diedAt !== undefined && now - diedAt < this.waitMs) {
      this.add(filter)
      return
    }
    while (this.removed.length > 0 && now - (this.removed[0] as { at: number }).at > REMOVED_MEMORY_MS) this.removed.shift()
    this.removed.push({ node, filter, at: now })
  }

  /** Some node (this one included) routes `filter` again: publishes waiting for it go on. */
  routeAdded(filter: string): void {
    this.vanished.get(unshared(filter))?.settle()
  }

  /** `node`'s registration vanished without a graceful leave: its removed routes are held open. */
  nodeDied(node: string): void {
    const now = Date.now()
    this.dead.set(node, now)
    setTimeout(() => this.dead.delete(node), this.waitMs).unref()
    for (const r of this.removed) if (r.node === node && now - r.at <= REMOVED_MEMORY_MS) this.add(r.filter)
  }

  /** Resolves once every vanished filter matching `topic` is routed again or timed out; undefined when none matches. */
  settling(topic: string): Promise<void> | undefined {
    if (this.vanished.size === 0) return undefined
    const matched = this.trie.match(topic, this.scratch)
    const waits = matched.length === 0 ? undefined : matched.map((v) => v.settled)
    matched.length = 0
    return waits === undefined ? undefined : Promise.all(waits).then(() => undefined)
  }

  close(): void {
    for (const v of this.vanished.values()) v.settle()
  }

  private add(filter: string): void {
    if (this.vanished.has(filter)) return
    let resolve!: () => void
    const settled = new Promise<void>((r) => (resolve = r))
    const settle = (): void => {
      if (this.vanished.get(filter) !== entry) return
      this.vanished.delete(filter)
      this.trie.delete(filter, entry)
      clearTimeout(entry.timer)
      resolve()
    }
    const entry: Vanished = { filter, settled, settle, timer: setTimeout(() => settle(), this.waitMs) }
    entry.timer.unref()
    this.vanished.set(filter, entry)
    this.trie.add(filter, entry)
  }
}
