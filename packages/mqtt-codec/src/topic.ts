import { isValidUtf8MqttString } from './utf8.js'

const MAX_STRING_BYTES = 65_535
const SHARE_PREFIX = '$share/'

/**
 * A Topic Name a PUBLISH may carry: at least one character [MQTT-4.7.3-1], no wildcard
 * characters [MQTT-3.3.2-2][MQTT-4.7.1-1], a legal UTF-8 string [MQTT-1.5.4-1][MQTT-1.5.4-2]
 * of at most 65,535 bytes [MQTT-4.7.3-3].
 */
export function isValidTopicName(topic: string): boolean {
  if (topic.length === 0 || topic.length > MAX_STRING_BYTES) return false
  if (topic.includes('+') || topic.includes('#')) return false
  return isValidUtf8MqttString(topic) && Buffer.byteLength(topic) <= MAX_STRING_BYTES
}

/**
 * A Topic Filter a SUBSCRIBE or UNSUBSCRIBE may carry: non-empty [MQTT-4.7.3-1], `#` only as
 * the whole last level [MQTT-4.7.1-2], `+` only as a whole level [MQTT-4.7.1-3], and for a
 * shared subscription `$share/{ShareName}/{filter}` a non-empty ShareName without `/`, `+` or
 * `#` followed by a valid filter [MQTT-4.8.2-1][MQTT-4.8.2-2].
 */
export function isValidTopicFilter(filter: string): boolean {
  if (filter.length === 0 || filter.length > MAX_STRING_BYTES) return false
  if (!isValidUtf8MqttString(filter) || Buffer.byteLength(filter) > MAX_STRING_BYTES) return false
  if (filter.startsWith(SHARE_PREFIX)) {
    const nameEnd = filter.indexOf('/', SHARE_PREFIX.length)
    if (nameEnd <= SHARE_PREFIX.length) return false
    const shareName = filter.slice(SHARE_PREFIX.length, nameEnd)
    if (shareName.includes('+') || shareName.includes('#')) return false
    return hasValidWildcards(filter, nameEnd + 1)
  }
  return hasValidWildcards(filter, 0)
}

function hasValidWildcards(filter: string, start: number): boolean {
  if (start >= filter.length) return false // [MQTT-4.7.3-1] the filter after the share name is empty
  for (let i = start; i < filter.length; i++) {
    const c = filter.charCodeAt(i)
    if (c !== 0x23 /* # */ && c !== 0x2b /* + */) continue
    const levelStart = i === start || filter.charCodeAt(i - 1) === 0x2f /* / */
    const levelEnd = i === filter.length - 1 || filter.charCodeAt(i + 1) === 0x2f
    if (!levelStart || !levelEnd) return false
    if (c === 0x23 && i !== filter.length - 1) return false // [MQTT-4.7.1-2] '#' must be last
  }
  return true
}
