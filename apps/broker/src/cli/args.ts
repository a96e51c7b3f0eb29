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
  | { readonly what: 'status' | 'cluster' | 'nodes' | 'queues' | 'amqp' }
  | { readonly what: 'sessions' | 'subscriptions'; readonly limit?: number; readonly offset?: number }
  | { readonly what: 'session' | 'queue'; readonly id: string }


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
        port: { type: 'string', short: 'p' },
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
    throw usageErrorOf(error as Error & { code?: string })
  }
  const { values, positionals } = parsed
  if (values.help === true) return { kind: 'help' }
  if (values.version === true) return { kind: 'version' }
  const [command, ...rest] = positionals
  // -p/--port as mosquitto has it; first, so that an explicit --set of the same key wins.
  const sets = [...(values.port === undefined ? [] : [`server.mqtt.tcp.addr=:${port(values.port)}`]), ...(values.set ?? [])]
  if (command !== 'ctl') {
    for (const flag of ['url', 'token', 'json', 'limit', 'offset'] as const) {
      if (values[flag] !== undefined) throw new UsageError(`--${flag} belongs to the ctl command`)
    }
  }
  if (command === 'passwd') {
    if (values.config !== undefined || sets.length > 0) throw new UsageError('passwd takes no --config, --set or --port')
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

/**
 * parseArgs's own texts are written for programmers ("To specify a positional argument starting
 * with a '-', place it … as in '-- "-d"'"); an operator gets the option and what to do instead.
 */
function usageErrorOf(error: Error & { code?: string }): UsageError {
  const unknown = error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /'([^']+)'/.exec(error.message)?.[1] : undefined
  if (unknown === undefined) return new UsageError(error.message)
  return new UsageError(`unknown option ${unknown}; every other setting is a configuration key: --set key.path=value (keys: fluxmq --help)`)
}

function port(text: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65_535) throw new UsageError(`-p/--port must be a TCP port from 0 to 65535, got "${text}" (it sets server.mqtt.tcp.addr)`)
  return Number(text)
}

const CTL_PLAIN = new Set(['status', 'cluster', 'nodes', 'queues', 'amqp'])

function ctlQuery(words: readonly string[], values: { readonly limit?: string; readonly offset?: string }): CtlQuery {
  const [what, id, extra] = words
  if (what === undefined) throw new UsageError('ctl needs a command: status, sessions, session, subscriptions, nodes, cluster, queues, queue or amqp')
  const paged = what === 'sessions' || what === 'subscriptions'
  if (!paged && (values.limit !== undefined || values.offset !== undefined)) throw new UsageError(`--limit and --offset belong to "ctl sessions" and "ctl subscriptions"`)
  if (CTL_PLAIN.has(what) || paged) {
    if (id !== undefined) throw new UsageError(`ctl ${what} takes no argument, got "${id}"`)
    if (!paged) return { what: what as 'status' | 'cluster' | 'nodes' | 'queues' | 'amqp' }
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
