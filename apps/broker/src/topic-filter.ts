import { isSharedFilter, validateTopicFilter } from '@fluxmq/topic'

/**
 * Why `filter` cannot be used where a plain (not shared) topic filter is expected — an ACL rule, a
 * queue's topics — or undefined when it can. Validation itself is @fluxmq/topic's.
 */
export function checkTopicFilter(filter: string): string | undefined {
  if (validateTopicFilter(filter) !== undefined) return 'a valid MQTT topic filter ("+" and "#" as whole levels, "#" last)'
  if (isSharedFilter(filter)) return 'a topic filter without a $share/<group>/ prefix'
  return undefined
}
