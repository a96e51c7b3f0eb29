import { readFileSync } from 'node:fs'
import type { Authorizer, ClientIdentity } from '@fluxmq/core'
import { levelsCover, levelsIntersect, unshared } from '@fluxmq/topic'
import { checkTopicFilter } from '../topic-filter.js'
import { LineFileError } from './line-file-error.js'

/**
 * The ACL file (auth.acl_file), in mosquitto's format:
 *
 *   # comment
 *   topic read $SYS/#                 before any "user" line: rules for anonymous clients
 *   user alice                        following "topic" lines: rules for user alice
 *   topic readwrite sensors/#
 *   topic deny sensors/secret
 *   pattern write devices/%c/#        for every client; %c = client id, %u = username
 *
 * Access is read, write, readwrite (the default when omitted) or deny. A topic not granted is
 * refused, and a deny rule beats any grant.
 */
export type Access = 'read' | 'write' | 'readwrite' | 'deny'

export interface AclRule {
  readonly access: Access
  readonly filter: string
}

export interface AclRules {
  /** Rules before the first `user` line: clients without a username. */
  readonly anonymous: readonly AclRule[]
  readonly users: ReadonlyMap<string, readonly AclRule[]>
  /** Apply to every client, after %u / %c substitution. */
  readonly patterns: readonly AclRule[]
}

export class AclFileError extends LineFileError {
  override readonly name = 'AclFileError'
  readonly code = 'FLUXMQ_ERR_ACL_FILE'
}

const ACCESS: ReadonlySet<string> = new Set(['read', 'write', 'readwrite', 'deny'])

export function parseAcl(text: string, path: string): AclRules {
  const anonymous: AclRule[] = []
  const users = new Map<string, AclRule[]>()
  const patterns: AclRule[] = []
  let current = anonymous
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const fail = (reason: string): never => {
      throw new AclFileError(path, index + 1, reason)
    }
    const [keyword = '', ...rest] = line.split(/\s+/)
    if (keyword === 'user') {
      if (rest.length !== 1) fail('expected "user <username>"')
      const name = rest[0] as string
      current = users.get(name) ?? []
      users.set(name, current)
      continue
    }
    if (keyword !== 'topic' && keyword !== 'pattern') fail(`unknown keyword "${keyword}" (expected user, topic or pattern)`)
    // The filter is the rest of the line, so topic levels may contain spaces, as in mosquitto.
    const hasAccess = ACCESS.has(rest[0] ?? '')
    const access = (hasAccess ? rest[0] : 'readwrite') as Access
    const filter = line
      .slice(keyword.length)
      .trim()
      .slice(hasAccess ? access.length : 0)
      .trim()
    if (filter === '') fail(`expected "${keyword} [read|write|readwrite|deny] <topic filter>"`)
    const problem = checkTopicFilter(filter)
    if (problem !== undefined) fail(`"${filter}": expected ${problem}`)
    ;(keyword === 'pattern' ? patterns : current).push({ access, filter })
  }
  return { anonymous, users, patterns }
}

export function readAclFile(path: string): AclRules {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    throw new AclFileError(path, 0, (error as Error).message)
  }
  return parseAcl(text, path)
}

interface CompiledRule {
  readonly levels: readonly string[]
}

/** One client's applicable rules, split into levels once. */
interface ClientRules {
  readonly deny: readonly CompiledRule[]
  readonly read: readonly CompiledRule[]
  readonly write: readonly CompiledRule[]
}

/** A substituted value that would widen a pattern (a client id "+" must not turn %c into a wildcard). */
const UNSAFE = /[/+#]/

/**
 * Topic authorization from the ACL file. Subscribing needs read access to every topic the filter
 * can match, and is refused when the filter can match a denied topic: deliveries are not checked
 * one by one, so the subscription itself must not reach further than the rules allow.
 */
export class AclAuthorizer implements Authorizer {
  /** Compiled per identity object: the adapters keep one identity per connection. */
  private cache = new WeakMap<ClientIdentity, ClientRules>()

  constructor(private rules: AclRules) {}

  /**
   * A reloaded ACL file: every later PUBLISH and SUBSCRIBE is checked against it. Subscriptions
   * made before stay, as deliveries are not re-checked one by one (see README).
   */
  replaceRules(rules: AclRules): void {
    this.rules = rules
    this.cache = new WeakMap()
  }

  canPublish(client: ClientIdentity, topic: string): boolean {
    const rules = this.rulesFor(client)
    const levels = topic.split('/')
    for (const rule of rules.deny) if (levelsCover(rule.levels, levels)) return false
    for (const rule of rules.write) if (levelsCover(rule.levels, levels)) return true
    return false
  }

  canSubscribe(client: ClientIdentity, filter: string): boolean {
    const rules = this.rulesFor(client)
    const levels = unshared(filter).split('/')
    for (const rule of rules.deny) if (levelsIntersect(rule.levels, levels)) return false
    for (const rule of rules.read) if (levelsCover(rule.levels, levels)) return true
    return false
  }

  private rulesFor(client: ClientIdentity): ClientRules {
    let compiled = this.cache.get(client)
    if (compiled === undefined) {
      compiled = this.compile(client)
      this.cache.set(client, compiled)
    }
    return compiled
  }

  private compile(client: ClientIdentity): ClientRules {
    const deny: CompiledRule[] = []
    const read: CompiledRule[] = []
    const write: CompiledRule[] = []
    const add = (access: Access, filter: string): void => {
      const rule = { levels: filter.split('/') }
      if (access === 'deny') deny.push(rule)
      if (access === 'read' || access === 'readwrite') read.push(rule)
      if (access === 'write' || access === 'readwrite') write.push(rule)
    }
    const own = client.username === undefined ? this.rules.anonymous : (this.rules.users.get(client.username) ?? [])
    for (const rule of own) add(rule.access, rule.filter)
    for (const rule of this.rules.patterns) {
      const filter = substitute(rule.filter, client, rule.access)
      if (filter !== undefined) add(rule.access, filter)
    }
    return { deny, read, write }
  }
}

/**
 * %u and %c filled in, level by level. A missing or unsafe value makes a grant inapplicable
 * (undefined) and widens a deny to "+" for that level, so neither can be bent by a crafted id.
 */
function substitute(filter: string, client: ClientIdentity, access: Access): string | undefined {
  const levels = filter.split('/')
  for (const [index, level] of levels.entries()) {
    if (!level.includes('%')) continue
    const username = client.username
    const unsafe = (level.includes('%u') && (username === undefined || UNSAFE.test(username))) || (level.includes('%c') && UNSAFE.test(client.clientId))
    if (unsafe && access !== 'deny') return undefined
    levels[index] = unsafe ? '+' : level.replaceAll('%u', username ?? '').replaceAll('%c', client.clientId)
  }
  return levels.join('/')
}
