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

export const USAGE = `Usage:
  fluxmq [--config FILE.yaml] [--set key.path=value]...   run the broker
  fluxmq check-config [--config FILE.yaml] [--set k=v]...  validate and print the effective config
  fluxmq passwd FILE USERNAME [--password P | --delete]    add, change or remove a user in a password file
                                                           (the password is read from stdin without --password)
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
  if (command === 'passwd') {
    if (values.config !== undefined || sets.length > 0) throw new UsageError('passwd takes no --config or --set')
    if (rest.length !== 2) throw new UsageError('passwd needs FILE and USERNAME')
    if (values.delete === true && values.password !== undefined) throw new UsageError('--delete and --password cannot be combined')
    const [file, username] = rest as [string, string]
    return { kind: 'passwd', file, username, remove: values.delete === true, ...(values.password === undefined ? {} : { password: values.password }) }
  }
  if (values.password !== undefined || values.delete !== undefined) throw new UsageError('--password and --delete belong to the passwd command')
  if (command !== undefined && command !== 'check-config') throw new UsageError(`unknown command "${command}"`)
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`)
  return { kind: command === 'check-config' ? 'check-config' : 'serve', sets, ...(values.config === undefined ? {} : { file: values.config }) }
}
