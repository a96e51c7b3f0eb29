/**
 * The keys of SPEC §6, relative to the cluster's namespace `/fluxmq/<cluster.name>/` (every module
 * works on an etcd3 namespace, so no key here carries the prefix).
 *
 * Names that come from users (client ids, filters, topics) are one key segment each, encoded with
 * encodeURIComponent: '/' becomes %2F, '+' %2B, '#' %23, '$' %24, so `routes/<filter>/<node>` splits
 * at its last '/' without ambiguity and a prefix scan of one filter never matches another filter
 * that merely starts with the same characters.
 */

export function clusterPrefix(clusterName: string): string {
  return `/fluxmq/${segment(clusterName)}/`
}

export function segment(name: string): string {
  return encodeURIComponent(name)
}

/** Undefined for text this module did not encode (a stray '%'), so a foreign key is skipped, not fatal. */
export function unsegment(encoded: string): string | undefined {
  try {
    return decodeURIComponent(encoded)
  } catch {
    return undefined
  }
}

export const NODES = 'nodes/'
export const SESSIONS = 'sessions/'
export const ROUTES = 'routes/'
export const LEADER = 'leader'
export const SUBS = 'subs/'
export const RETAINED = 'retained/'
export const WILLS = 'wills/'
export const ADOPTED = 'adopted/'

export function nodeKey(nodeId: string): string {
  return NODES + segment(nodeId)
}

export function sessionKey(clientId: string): string {
  return SESSIONS + segment(clientId)
}

export function subsKey(clientId: string): string {
  return SUBS + segment(clientId)
}

export function retainedKey(topic: string): string {
  return RETAINED + segment(topic)
}

export function willKey(clientId: string): string {
  return WILLS + segment(clientId)
}

/** `adopted/<client>`: the epoch of the leader's claim that holds a dead node's session for its absent client. */
export function adoptedKey(clientId: string): string {
  return ADOPTED + segment(clientId)
}

export function routeKey(filter: string, nodeId: string): string {
  return `${ROUTES}${segment(filter)}/${segment(nodeId)}`
}

/** `routes/<filter>/<node>` back to its parts; undefined for a key of another shape. */
export function parseRouteKey(key: string): { readonly filter: string; readonly nodeId: string } | undefined {
  if (!key.startsWith(ROUTES)) return undefined
  const rest = key.slice(ROUTES.length)
  const slash = rest.indexOf('/')
  if (slash <= 0 || slash !== rest.lastIndexOf('/') || slash === rest.length - 1) return undefined
  const filter = unsegment(rest.slice(0, slash))
  const nodeId = unsegment(rest.slice(slash + 1))
  return filter === undefined || nodeId === undefined ? undefined : { filter, nodeId }
}

/** The one-segment name after `prefix` (`nodes/<node>` → node id); undefined for another shape. */
export function parseLeafKey(prefix: string, key: string): string | undefined {
  if (!key.startsWith(prefix)) return undefined
  const rest = key.slice(prefix.length)
  if (rest.length === 0 || rest.includes('/')) return undefined
  return unsegment(rest)
}
