import { parseSharedFilter, validateTopicFilter } from '@fluxmq/core'

/**
 * Topic filter relations the ACL needs, on filters split into levels once: does one filter cover
 * every topic another can match (a topic name is a filter without wildcards, so this also decides
 * plain matching), can two filters match a common topic. Both follow MQTT's rule that a wildcard
 * in the first level never matches a topic beginning with "$" [MQTT-4.7.2-1].
 */

/**
 * Why `filter` cannot be used where a plain (not shared) topic filter is expected — an ACL rule, a
 * queue's topics — or undefined when it can. Validation itself is the core's.
 */
export function checkTopicFilter(filter: string): string | undefined {
  if (validateTopicFilter(filter) !== undefined) return 'a valid MQTT topic filter ("+" and "#" as whole levels, "#" last)'
  if (parseSharedFilter(filter) !== undefined) return 'a topic filter without a $share/<group>/ prefix'
  return undefined
}

/** The filter a shared subscription `$share/<group>/<filter>` applies [MQTT-4.8.2-1]; other filters unchanged. */
export function unshared(filter: string): string {
  return parseSharedFilter(filter)?.filter ?? filter
}

function dollarGuard(a: readonly string[], b: readonly string[]): boolean {
  // A wildcard first level on one side never meets a "$" first level on the other [MQTT-4.7.2-1].
  const a0 = a[0] as string
  const b0 = b[0] as string
  if ((a0 === '+' || a0 === '#') && b0.startsWith('$')) return false
  if ((b0 === '+' || b0 === '#') && a0.startsWith('$')) return false
  return true
}

/** Whether every topic that `inner` can match is matched by `outer`. */
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
