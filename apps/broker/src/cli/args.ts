import { parseArgs } from 'node:util'

/** A command line the CLI cannot act on; printed with a pointer to --help, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError'
  readonly code = 'FLUXMQ_ERR_USAGE'
}

export type Command =
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | { readonly kind: 'serve'; readonly file?: string; readonly sets: readonly string[] }
  | { readonly kind: 'check-config'; readonly file?: string; readonly sets: readonly string[] }
  | { readonly kind: 'passwd'; readonly file: string; readonly username: string; readonly password?: string; readonly remove: boolean }
  | CtlCommand

/** `fluxmq ctl`: one read of the admin API of a running node. */
export interface CtlCommand {
  readonly kind: 'ctl'
  readonly query: CtlQuery
  /** --url; without it the address comes from the configuration (file, environment, --set). */
  readonly url?: string
  /** --token; without it server.http.token of the configuration. */
  readonly token?: string
  readonly json: boolean
  readonly file?: string
  readonly sets: readonly string[]
}

export type CtlQuery =
  | { readonly what: 'status' | 'cluster' | 'nodes' | 'queues' }
  | { readonly what: 'sessions' | 'subscriptions'; readonly limit?: number; readonly offset?: number }
  | { readonly what: 'session' | 'queue'; readonly id: string }

export const USAGE = `Usage:
  fluxmq [--config FILE.yaml] [--set key.path=value]...   run the broker
  fluxmq check-config [--config FILE.yaml] [--set k=v]...  validate and print the effective config
  fluxmq passwd FILE USERNAME [--password P | --delete]    add, change or remove a user in a password file
                                                           (the password is read from stdin without --password)
  fluxmq ctl [--url URL] [--token T] [--json] COMMAND    ask a running node (its HTTP admin API)
      status                   health, readiness and the node (exit 1 when not ready)
      sessions [--limit N] [--offset N]   session CLIENT_ID
      subscriptions [--limit N] [--offset N]
      nodes | cluster | queues | queue NAME
    The URL and token default to server.http.addr and server.http.token of the
    configuration (--config, environment, --set), e.g. http://127.0.0.1:8081.
  fluxmq --help | --version

Options:
  -c, --config FILE     YAML configuration file
  -s, --set KEY=VALUE   override one key (repeatable), e.g. --set server.mqtt.tcp.addr=:1884
  -h, --help            show this text
  -v, --version         print the version

Every key can also be set with an environment variable FLUXMQ_<KEY_PATH>, e.g.
FLUXMQ_SERVER_MQTT_TCP_ADDR=:1884. Precedence: defaults < --config < environment < --set.
Exit codes: 0 success, 1 runtime failure, 2 bad usage or configuration.
`

export function parseCommand(argv: readonly string[]): Command {
  let parsed
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: 'string', short: 'c' },
        set: { type: 'string', short: 's', multiple: true },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
        password: { type: 'string' },
        delete: { type: 'boolean' },
        url: { type: 'string' },
        token: { type: 'string' },
        json: { type: 'boolean' },
        limit: { type: 'string' },
        offset: { type: 'string' },
      },
    })
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
  const { values, positionals } = parsed
  if (values.help === true) return { kind: 'help' }
  if (values.version === true) return { kind: 'version' }
  const [command, ...rest] = positionals
  const sets = values.set ?? []
  if (command !== 'ctl') {
    for (const flag of ['url', 'token', 'json', 'limit', 'offset'] as const) {
      if (values[flag] !== undefined) throw new UsageError(`--${flag} belongs to the ctl command`)
    }
  }
  if (command === 'passwd') {
    if (values.config !== undefined || sets.length > 0) throw new UsageError('passwd takes no --config or --set')
    if (rest.length !== 2) throw new UsageError('passwd needs FILE and USERNAME')
    if (values.delete === true && values.password !== undefined) throw new UsageError('--delete and --password cannot be combined')
    const [file, username] = rest as [string, string]
    return { kind: 'passwd', file, username, remove: values.delete === true, ...(values.password === undefined ? {} : { password: values.password }) }
  }
  if (values.password !== undefined || values.delete !== undefined) throw new UsageError('--password and --delete belong to the passwd command')
  if (command === 'ctl') {
    return {
      kind: 'ctl',
      query: ctlQuery(rest, values),
      json: values.json === true,
      sets,
      ...(values.url === undefined ? {} : { url: values.url }),
      ...(values.token === undefined ? {} : { token: values.token }),
      ...(values.config === undefined ? {} : { file: values.config }),
    }
  }
  if (command !== undefined && command !== 'check-config') throw new UsageError(`unknown command "${command}"`)
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`)
  return { kind: command === 'check-config' ? 'check-config' : 'serve', sets, ...(values.config === undefined ? {} : { file: values.config }) }
}

const CTL_PLAIN = new Set(['status', 'cluster', 'nodes', 'queues'])

function ctlQuery(words: readonly string[], values: { readonly limit?: string; readonly offset?: string }): CtlQuery {
  const [what, id, extra] = words
  if (what === undefined) throw new UsageError('ctl needs a command: status, sessions, session, subscriptions, nodes, cluster, queues or queue')
  const paged = what === 'sessions' || what === 'subscriptions'
  if (!paged && (values.limit !== undefined || values.offset !== undefined)) throw new UsageError(`--limit and --offset belong to "ctl sessions" and "ctl subscriptions"`)
  if (CTL_PLAIN.has(what) || paged) {
    if (id !== undefined) throw new UsageError(`ctl ${what} takes no argument, got "${id}"`)
    if (!paged) return { what: what as 'status' | 'cluster' | 'nodes' | 'queues' }
    return {
      what,
      ...(values.limit === undefined ? {} : { limit: count('--limit', values.limit, 1) }),
      ...(values.offset === undefined ? {} : { offset: count('--offset', values.offset, 0) }),
    }
  }
  if (what === 'session' || what === 'queue') {
    if (id === undefined) throw new UsageError(`ctl ${what} needs ${what === 'session' ? 'a CLIENT_ID' : 'a queue NAME'}`)
    if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`)
    return { what, id }
  }
  throw new UsageError(`unknown ctl command "${what}"`)
}

function count(flag: string, text: string, min: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min || !Number.isSafeInteger(Number(text))) throw new UsageError(`${flag} must be a whole number of at least ${min}, got "${text}"`)
  return Number(text)
}
