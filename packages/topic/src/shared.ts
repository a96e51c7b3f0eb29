export const SHARE_PREFIX = '$share/'

export interface SharedFilter {
  /** The ShareName. */
  readonly group: string
  /** The filter the group subscribes to, prefix stripped. */
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

/** Whether the filter has the `$share/` prefix (valid or not). */
export function isSharedFilter(filter: string): boolean {
  return filter.startsWith(SHARE_PREFIX)
}

/** The filter a shared subscription applies [MQTT-4.8.2-1]; other filters unchanged. */
export function unshared(filter: string): string {
  return parseSharedFilter(filter)?.filter ?? filter
}
