import { type TopicError, TopicErrors } from './error.js'
import { SHARE_PREFIX } from './shared.js'

const HASH = 0x23
const PLUS = 0x2b
const SLASH = 0x2f
const MAX_BYTES = 65_535

/**
 * The grammar error one code unit makes in a topic name, or undefined. Works on UTF-16 code units
 * and on UTF-8 bytes alike ('+', '#' and NUL never occur inside a multi-byte sequence), so the
 * codec checks the bytes of a PUBLISH in the pass that also finds non-ASCII ones.
 */
export function topicNameUnitError(unit: number): TopicError | undefined {
  // [MQTT-3.3.2-2] The Topic Name in a PUBLISH packet MUST NOT contain wildcard characters
  // ([MQTT-4.7.0-1] in 5.0, [MQTT-4.7.1-1] in 3.1.1, for topic names in general).
  if (unit === PLUS || unit === HASH) return TopicErrors['wildcard-in-name']
  // [MQTT-4.7.3-2] Topic Names and Topic Filters MUST NOT include the null character (U+0000).
  if (unit === 0) return TopicErrors['null-character']
  return undefined
}

/**
 * Checks a topic name (what PUBLISH and a will carry). Undefined when valid. Whether the string
 * can be encoded as UTF-8 at all (lone surrogates) is the codec's business.
 */
export function validateTopicName(topic: string): TopicError | undefined {
  // [MQTT-4.7.3-1] All Topic Names and Topic Filters MUST be at least one character long.
  if (topic.length === 0) return TopicErrors.empty
  for (let i = 0; i < topic.length; i++) {
    const e = topicNameUnitError(topic.charCodeAt(i))
    if (e !== undefined) return e
  }
  return tooLong(topic)
}

/** Checks a subscription filter, `$share/<group>/<filter>` included [MQTT-4.8.2]. */
export function validateTopicFilter(filter: string): TopicError | undefined {
  if (!filter.startsWith(SHARE_PREFIX)) return validatePlainFilter(filter, 0) ?? tooLong(filter)
  const slash = filter.indexOf('/', SHARE_PREFIX.length)
  // [MQTT-4.8.2-1] A Shared Subscription's Topic Filter MUST contain a ShareName at least one character long.
  if (slash === SHARE_PREFIX.length) return TopicErrors['empty-share-name']
  // [MQTT-4.8.2-2] The ShareName MUST NOT contain "/", "+" or "#", and MUST be followed by "/" and a Topic Filter.
  const nameEnd = slash < 0 ? filter.length : slash
  for (let i = SHARE_PREFIX.length; i < nameEnd; i++) {
    const c = filter.charCodeAt(i)
    if (c === PLUS || c === HASH) return TopicErrors['invalid-share-name']
    if (c === 0) return TopicErrors['null-character']
  }
  if (nameEnd === SHARE_PREFIX.length) return TopicErrors['empty-share-name']
  if (slash < 0 || slash === filter.length - 1) return TopicErrors['missing-shared-filter']
  return validatePlainFilter(filter, slash + 1) ?? tooLong(filter)
}

/** The filter from `start` on: whole-level wildcards, '#' last, no NUL. */
function validatePlainFilter(filter: string, start: number): TopicError | undefined {
  // [MQTT-4.7.3-1] All Topic Names and Topic Filters MUST be at least one character long.
  if (filter.length === start) return TopicErrors.empty
  const last = filter.length - 1
  for (let i = start; i <= last; i++) {
    const c = filter.charCodeAt(i)
    // [MQTT-4.7.3-2] Topic Names and Topic Filters MUST NOT include the null character (U+0000).
    if (c === 0) return TopicErrors['null-character']
    const levelStart = i === start || filter.charCodeAt(i - 1) === SLASH
    if (c === HASH) {
      // [MQTT-4.7.1-1] '#' MUST be on its own or after a '/', and MUST be the last character
      // ([MQTT-4.7.1-2] in 3.1.1).
      if (i !== last || !levelStart) return TopicErrors['misplaced-multi-level-wildcard']
    } else if (c === PLUS) {
      // [MQTT-4.7.1-2] '+' MUST occupy an entire level of the filter ([MQTT-4.7.1-3] in 3.1.1).
      if (!levelStart || (i !== last && filter.charCodeAt(i + 1) !== SLASH)) return TopicErrors['misplaced-single-level-wildcard']
    }
  }
  return undefined
}

/**
 * [MQTT-4.7.3-3] Topic Names and Topic Filters MUST NOT encode to more than 65,535 bytes. A UTF-16
 * code unit is at most 3 UTF-8 bytes, so only very long strings are counted.
 */
function tooLong(s: string): TopicError | undefined {
  if (s.length * 3 <= MAX_BYTES) return undefined
  return utf8Length(s) > MAX_BYTES ? TopicErrors['too-long'] : undefined
}

function utf8Length(s: string): number {
  let bytes = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) bytes += 1
    else if (c < 0x800) bytes += 2
    // A surrogate pair is 4 bytes, 2 per unit; a lone surrogate is not encodable (counted as 3).
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4
      i++
    } else bytes += 3
  }
  return bytes
}
