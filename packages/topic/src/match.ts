const DOLLAR = 0x24
const HASH = 0x23
const PLUS = 0x2b

/** A topic (or first level) beginning with '$': `$SYS/…`, and whatever else a server reserves. */
export function isDollarTopic(topic: string): boolean {
  return topic.charCodeAt(0) === DOLLAR
}

/** Whether a filter has a wildcard level ('+' or '#') anywhere. */
export function hasWildcard(filter: string): boolean {
  return filter.includes('+') || filter.includes('#')
}

/**
 * [MQTT-4.7.2-1] The Server MUST NOT match Topic Filters starting with a wildcard character (# or +)
 * with Topic Names beginning with a $ character. Takes whole strings or their first levels.
 */
export function dollarExcluded(filter: string, topic: string): boolean {
  if (!isDollarTopic(topic)) return false
  const f = filter.charCodeAt(0)
  return f === HASH || f === PLUS
}

/**
 * Does `filter` (valid, not shared) match `topic`? The router's trie and the retained tree are
 * the fast paths; this serves single comparisons (a queued message re-matched, an ACL rule).
 */
export function topicMatches(filter: string, topic: string): boolean {
  if (dollarExcluded(filter, topic)) return false
  let f = 0
  let t = 0
  for (;;) {
    const fEnd = indexOrEnd(filter, f)
    const level = filter.slice(f, fEnd)
    // '#' matches the parent level and any number of child levels (§4.7.1.2).
    if (level === '#') return true
    if (t > topic.length) return false
    const tEnd = indexOrEnd(topic, t)
    if (level !== '+' && level !== topic.slice(t, tEnd)) return false
    const filterDone = fEnd === filter.length
    const topicDone = tEnd === topic.length
    if (filterDone || topicDone) {
      if (filterDone && topicDone) return true
      // "a/#" also matches "a": the filter may end in one '#' level after the topic ran out.
      return topicDone && filter.slice(fEnd + 1) === '#'
    }
    f = fEnd + 1
    t = tEnd + 1
  }
}

function indexOrEnd(s: string, from: number): number {
  const i = s.indexOf('/', from)
  return i < 0 ? s.length : i
}

/**
 * Whether every topic that the filter `inner` can match is matched by `outer`, both split into
 * levels. A topic name is a filter without wildcards, so this also decides plain matching.
 */
export function levelsCover(outer: readonly string[], inner: readonly string[]): boolean {
  if (!firstLevelsMeet(outer, inner)) return false
  for (let i = 0; i < outer.length; i++) {
    const o = outer[i] as string
    if (o === '#') return true // "#" also matches the parent level: "a/#" covers "a" (§4.7.1.2).
    const n = inner[i]
    if (n === undefined || n === '#') return false
    if (o !== '+' && o !== n) return false
  }
  return inner.length === outer.length
}

/** Whether some topic name is matched by both filters, split into levels. */
export function levelsIntersect(left: readonly string[], right: readonly string[]): boolean {
  if (!firstLevelsMeet(left, right)) return false
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

/** A wildcard first level on one side never meets a "$" first level on the other [MQTT-4.7.2-1]. */
function firstLevelsMeet(a: readonly string[], b: readonly string[]): boolean {
  const a0 = a[0] as string
  const b0 = b[0] as string
  return !dollarExcluded(a0, b0) && !dollarExcluded(b0, a0)
}
