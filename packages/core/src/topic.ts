import { ReasonCode } from './reason-code.js'

const SHARE_PREFIX = '$share/'

/**
 * Checks a topic name a client publishes to. Returns the reason code to answer with, or
 * undefined when the name is valid. Length limits and UTF-8 well-formedness are the codec's job.
 */
export function validateTopicName(topic: string): ReasonCode | undefined {
  // [MQTT-4.7.3-1] All Topic Names and Topic Filters MUST be at least one character long.
  if (topic.length === 0) return ReasonCode.TopicNameInvalid
  for (let i = 0; i < topic.length; i++) {
    const c = topic.charCodeAt(i)
    // [MQTT-3.3.2-2] The Topic Name in a PUBLISH packet MUST NOT contain wildcard characters.
    if (c === 0x2b || c === 0x23) return ReasonCode.TopicNameInvalid
    // [MQTT-4.7.3-2] Topic Names and Topic Filters MUST NOT include the null character (U+0000).
    if (c === 0) return ReasonCode.TopicNameInvalid
  }
  return undefined
}

/** Checks a subscription filter, `$share/<group>/<filter>` included. */
export function validateTopicFilter(filter: string): ReasonCode | undefined {
  if (filter.startsWith(SHARE_PREFIX)) {
    const slash = filter.indexOf('/', SHARE_PREFIX.length)
    // [MQTT-4.8.2-1] A Shared Subscription's Topic Filter MUST contain a ShareName at least one character long.
    if (slash <= SHARE_PREFIX.length) return ReasonCode.TopicFilterInvalid
    const group = filter.slice(SHARE_PREFIX.length, slash)
    // [MQTT-4.8.2-2] The ShareName MUST NOT contain "/", "+" or "#", and MUST be followed by "/" and a Topic Filter.
    if (group.includes('+') || group.includes('#')) return ReasonCode.TopicFilterInvalid
    return validatePlainFilter(filter.slice(slash + 1))
  }
  return validatePlainFilter(filter)
}

function validatePlainFilter(filter: string): ReasonCode | undefined {
  // [MQTT-4.7.3-1] All Topic Names and Topic Filters MUST be at least one character long.
  if (filter.length === 0) return ReasonCode.TopicFilterInvalid
  const last = filter.length - 1
  for (let i = 0; i <= last; i++) {
    const c = filter.charCodeAt(i)
    // [MQTT-4.7.3-2] Topic Names and Topic Filters MUST NOT include the null character (U+0000).
    if (c === 0) return ReasonCode.TopicFilterInvalid
    if (c === 0x23) {
      // [MQTT-4.7.1-1] '#' MUST be on its own or after a '/', and MUST be the last character.
      if (i !== last || (i > 0 && filter.charCodeAt(i - 1) !== 0x2f)) return ReasonCode.TopicFilterInvalid
    } else if (c === 0x2b) {
      // [MQTT-4.7.1-2] '+' MUST occupy an entire level of the filter.
      const before = i === 0 || filter.charCodeAt(i - 1) === 0x2f
      const after = i === last || filter.charCodeAt(i + 1) === 0x2f
      if (!before || !after) return ReasonCode.TopicFilterInvalid
    }
  }
  return undefined
}

export interface SharedFilter {
  readonly group: string
  readonly filter: string
}

/**
 * Splits `$share/<group>/<filter>` [MQTT-4.8.2]. Undefined for a non-shared filter; call
 * validateTopicFilter first, a malformed shared filter also yields undefined.
 */
export function parseSharedFilter(filter: string): SharedFilter | undefined {
  if (!filter.startsWith(SHARE_PREFIX)) return undefined
  const slash = filter.indexOf('/', SHARE_PREFIX.length)
  if (slash <= SHARE_PREFIX.length || slash === filter.length - 1) return undefined
  return { group: filter.slice(SHARE_PREFIX.length, slash), filter: filter.slice(slash + 1) }
}

/**
 * Does `filter` (not shared) match `topic`? The trie is the fast path; this serves the rare
 * per-session re-match of a message read back from the offline queue.
 */
export function topicMatches(filter: string, topic: string): boolean {
  // [MQTT-4.7.2-1] Filters starting with a wildcard MUST NOT match topic names beginning with '$'.
  if (topic.charCodeAt(0) === 0x24 && (filter.charCodeAt(0) === 0x2b || filter.charCodeAt(0) === 0x23)) return false
  let f = 0
  let t = 0
  for (;;) {
    const fEnd = indexOrEnd(filter, f)
    const level = filter.slice(f, fEnd)
    // [MQTT-4.7.1-2] '#' matches the parent level and any number of child levels.
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
