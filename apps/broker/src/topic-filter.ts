/**
 * Topic filter relations the ACL needs: does a filter match a topic name, does one filter cover
 * every topic another can match, can two filters match a common topic. All follow MQTT's rule that
 * a wildcard in the first level never matches a topic beginning with "$" [MQTT-4.7.2-1].
 */

/** Why a topic filter is invalid, or undefined when it is valid [MQTT-4.7.1-1..3, MQTT-4.7.3-1..2]. */
export function checkTopicFilter(filter: string): string | undefined {
  if (filter === '') return 'a non-empty topic filter' // [MQTT-4.7.3-1]
  if (filter.includes('\u0000')) return 'a topic filter without NUL characters' // [MQTT-4.7.3-2]
  const levels = filter.split('/')
  for (const [index, level] of levels.entries()) {
    // [MQTT-4.7.1-2] "#" alone in its level and last; [MQTT-4.7.1-3] "+" alone in its level.
    if (level.includes('#') && (level !== '#' || index !== levels.length - 1)) return 'a topic filter with "#" only as the whole last level'
    if (level.includes('+') && level !== '+') return 'a topic filter with "+" only as a whole level'
  }
  return undefined
}

function dollarGuard(a: readonly string[], b: readonly string[]): boolean {
  // A wildcard first level on one side never meets a "$" first level on the other [MQTT-4.7.2-1].
  const a0 = a[0] as string
  const b0 = b[0] as string
  if ((a0 === '+' || a0 === '#') && b0.startsWith('$')) return false
  if ((b0 === '+' || b0 === '#') && a0.startsWith('$')) return false
  return true
}

/** Whether `filter` matches the topic name `topic` (MQTT matching semantics). */
export function filterMatches(filter: string, topic: string): boolean {
  return levelsCover(filter.split('/'), topic.split('/'))
}

/**
 * Whether every topic that `inner` can match is matched by `outer`. A literal topic is a filter
 * without wildcards, so this also decides plain matching.
 */
export function filterCovers(outer: string, inner: string): boolean {
  return levelsCover(outer.split('/'), inner.split('/'))
}

/** filterCovers on filters already split into levels (callers that check one topic against many rules split once). */
export function levelsCover(outer: readonly string[], inner: readonly string[]): boolean {
  if (!dollarGuard(outer, inner)) return false
  for (let i = 0; i < outer.length; i++) {
    const o = outer[i] as string
    if (o === '#') return true // "#" also matches the parent level: "a/#" covers "a" [MQTT-4.7.1-2].
    const n = inner[i]
    if (n === undefined || n === '#') return false
    if (o !== '+' && o !== n) return false
  }
  return inner.length === outer.length
}

/** Whether some topic name is matched by both filters. */
export function filtersIntersect(a: string, b: string): boolean {
  return levelsIntersect(a.split('/'), b.split('/'))
}

export function levelsIntersect(left: readonly string[], right: readonly string[]): boolean {
  if (!dollarGuard(left, right)) return false
  const shorter = Math.min(left.length, right.length)
  for (let i = 0; i < shorter; i++) {
    const l = left[i] as string
    const r = right[i] as string
    if (l === '#' || r === '#') return true
    if (l !== '+' && r !== '+' && l !== r) return false
  }
  if (left.length === right.length) return true
  // One filter has levels left over: they can only match the parent level when they are exactly "#".
  const longer = left.length > right.length ? left : right
  return longer.length === shorter + 1 && longer[shorter] === '#'
}

/** The filter a shared subscription `$share/<group>/<filter>` applies [MQTT-4.8.2-1]; other filters unchanged. */
export function unshared(filter: string): string {
  if (!filter.startsWith('$share/')) return filter
  const slash = filter.indexOf('/', 7)
  return slash < 0 ? filter : filter.slice(slash + 1)
}
