import type { Message, QoS } from './message.js'
import type { Session } from './session.js'
import type { Subscription } from './subscription.js'
import { TopicTrie } from './topic-trie.js'

/**
 * The members of one `$share/<group>/<filter>` on this node; the trie holds the group, not the
 * members, so a publish costs one pick per group [MQTT-4.8.2].
 */
class SharedGroup {
  readonly members: Subscription[] = []
  next = 0

  /** `$share/<group>/<filter>` as the members wrote it: the cluster's name for this group. */
  constructor(readonly filter: string) {}

  /**
   * Round-robin among members whose session is connected; when none is, the next member with a
   * persistent session gets it (into its offline queue); when none has one, nobody does.
   */
  pick(): Subscription | undefined {
    const n = this.members.length
    for (let k = 0; k < n; k++) {
      const idx = (this.next + k) % n
      const m = this.members[idx] as Subscription
      if (m.session.active) {
        this.next = idx + 1
        return m
      }
    }
    for (let k = 0; k < n; k++) {
      const idx = (this.next + k) % n
      const m = this.members[idx] as Subscription
      if (m.session.stored) {
        this.next = idx + 1
        return m
      }
    }
    return undefined
  }
}

type Route = Subscription | SharedGroup

/**
 * Folds one matching subscription into its session's scratch fields for routing pass `epoch`;
 * true when it is the session's first match in the pass.
 */
function merge(route: Subscription, publisherId: string | undefined, epoch: number): boolean {
  const s = route.session
  // [MQTT-3.8.3-3] No Local: never send a message back to the connection that published it.
  if (route.options.noLocal && publisherId === s.clientId) return false
  if (s.mark !== epoch) {
    s.mark = epoch
    s.matchQos = route.options.qos
    s.matchRetain = route.options.retainAsPublished
    s.matchIds = route.ids
    s.matchIdsOwned = false
    return true
  }
  // [MQTT-3.3.4-2] Overlapping subscriptions: one delivery with the highest granted QoS.
  if (route.options.qos > s.matchQos) s.matchQos = route.options.qos as QoS
  s.matchRetain ||= route.options.retainAsPublished
  // [MQTT-3.3.4-3] … carrying the Subscription Identifiers of all of them.
  if (route.ids !== undefined) {
    if (s.matchIds === undefined) s.matchIds = route.ids
    else {
      if (!s.matchIdsOwned) {
        s.matchIds = s.matchIds.slice()
        s.matchIdsOwned = true
      }
      ;(s.matchIds as number[]).push(...route.ids)
    }
  }
  return false
}

/**
 * Topics whose matching routes are remembered. Publishers tend to repeat their topics, so most
 * publishes skip the trie walk (a split and one Map lookup per level); past this many distinct
 * topics the cache starts over, which bounds its memory.
 */
const MATCH_CACHE_SIZE = 4096
const NO_ROUTES: readonly Route[] = Object.freeze([])

/**
 * Subscriptions of every local session, matched against a topic once per publish. The result
 * lands in reused arrays and per-session scratch fields (see Session.mark), so routing a message
 * allocates nothing per subscriber.
 */
export class Router {
  private readonly trie = new TopicTrie<Route>()
  private readonly groups = new Map<string, SharedGroup>()
  /** topic → the trie's answer for it; emptied whenever a route is added or removed. */
  private readonly cache = new Map<string, readonly Route[]>()
  private epoch = 0
  /** Sessions matched by ordinary subscriptions, each once, with merged scratch fields. */
  readonly direct: Session[] = []
  /** One picked member per matching shared group (a session may appear here and in `direct`). */
  readonly shared: Subscription[] = []

  /**
   * @param servesShared the cluster's answer whether this node delivers a message to a shared
   *   group that has members on other nodes too (`Cluster.servesShared`); absent: it always does.
   */
  constructor(private readonly servesShared?: (filter: string, message: Message) => boolean) {}

  /** Adds a subscription; true when it is this node's first for its filter (cluster addRoute). */
  add(sub: Subscription): boolean {
    this.cache.clear()
    if (sub.group === undefined) {
      this.trie.add(sub.topicFilter, sub)
      return this.trie.get(sub.topicFilter)?.size === 1
    }
    let group = this.groups.get(sub.options.filter)
    if (group === undefined) {
      group = new SharedGroup(sub.options.filter)
      this.groups.set(sub.options.filter, group)
      this.trie.add(sub.topicFilter, group)
    }
    group.members.push(sub)
    return group.members.length === 1
  }

  /** Removes a subscription; true when it was this node's last for its filter (cluster removeRoute). */
  remove(sub: Subscription): boolean {
    this.cache.clear()
    if (sub.group === undefined) {
      if (!this.trie.delete(sub.topicFilter, sub)) return false
      const rest = this.trie.get(sub.topicFilter)
      return rest === undefined || rest.size === 0
    }
    const group = this.groups.get(sub.options.filter)
    if (group === undefined) return false
    const idx = group.members.indexOf(sub)
    if (idx < 0) return false
    group.members.splice(idx, 1)
    if (group.next > idx) group.next--
    if (group.members.length > 0) return false
    this.groups.delete(sub.options.filter)
    this.trie.delete(sub.topicFilter, group)
    return true
  }

  /**
   * Fills `direct` and `shared` for a topic; valid until the next call. With `message`, a shared
   * group gets it only if the cluster says this node serves the group for that message.
   */
  match(topic: string, publisherId: string | undefined, message?: Message): void {
    this.fill(topic, publisherId, message, true)
  }

  /**
   * Fills `direct` alone, leaving `shared` empty: no group advances its pick. For a publish sent
   * again to some sessions only (a will a node refused, delivered here to those it served).
   */
  matchDirect(topic: string, publisherId: string | undefined): void {
    this.fill(topic, publisherId, undefined, false)
  }

  private fill(topic: string, publisherId: string | undefined, message: Message | undefined, withShared: boolean): void {
    const hits = this.routesFor(topic)
    const direct = this.direct
    const shared = this.shared
    // Truncating an array calls into the runtime even when it is already empty.
    if (direct.length !== 0) direct.length = 0
    if (shared.length !== 0) shared.length = 0
    const epoch = ++this.epoch
    for (let i = 0; i < hits.length; i++) {
      const route = hits[i] as Route
      if (route instanceof SharedGroup) {
        if (!withShared) continue
        // [MQTT-4.8.2] One member cluster-wide: another node may be the one that serves this group.
        if (message !== undefined && this.servesShared !== undefined && !this.servesShared(route.filter, message)) continue
        const member = route.pick()
        if (member !== undefined) shared.push(member)
        continue
      }
      if (merge(route, publisherId, epoch)) direct.push(route.session)
    }
  }

  /**
   * Whether `session` has an ordinary subscription matching `topic`; when it does, its scratch
   * fields hold the merged match as after `match`. Shared groups are left out: their member is
   * picked per message on the node that serves the group. For a publish handed to one session
   * alone (a relay for a session that moved here).
   */
  matchOne(topic: string, publisherId: string | undefined, session: Session): boolean {
    const hits = this.routesFor(topic)
    const epoch = ++this.epoch
    let matched = false
    for (let i = 0; i < hits.length; i++) {
      const route = hits[i] as Route
      if (route instanceof SharedGroup || route.session !== session) continue
      merge(route, publisherId, epoch)
      matched ||= session.mark === epoch
    }
    return matched
  }

  /** The routes whose filters match `topic`, each once per matching filter. */
  private routesFor(topic: string): readonly Route[] {
    const cache = this.cache
    const cached = cache.get(topic)
    if (cached !== undefined) return cached
    const found = this.trie.match(topic, [])
    const routes = found.length === 0 ? NO_ROUTES : found
    if (cache.size >= MATCH_CACHE_SIZE) cache.clear()
    cache.set(topic, routes)
    return routes
  }
}
