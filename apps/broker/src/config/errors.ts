/**
 * Stable error codes of the fluxmq command. Codes are never reused: a code that goes out of use
 * stays reserved here.
 */
export const ConfigErrorCode = {
  /** A key that the schema does not know (file, `--set`). */
  UnknownKey: 'FLUXMQ_ERR_CONFIG_UNKNOWN_KEY',
  /** A value that its key's type rejects. */
  InvalidValue: 'FLUXMQ_ERR_CONFIG_INVALID_VALUE',
  /** The config file cannot be read or is not valid YAML. */
  File: 'FLUXMQ_ERR_CONFIG_FILE',
  /** A `--set` argument that is not `key.path=value`. */
  SetSyntax: 'FLUXMQ_ERR_CONFIG_SET_SYNTAX',
  /** Values that are valid one by one but not together. */
  Conflict: 'FLUXMQ_ERR_CONFIG_CONFLICT',
  /** A valid setting for a feature this build does not have yet. */
  Unsupported: 'FLUXMQ_ERR_CONFIG_UNSUPPORTED',
  /** A file named by a key (certificates, password file, ACL file) is missing or malformed. */
  ReferencedFile: 'FLUXMQ_ERR_CONFIG_REFERENCED_FILE',
} as const
export type ConfigErrorCode = (typeof ConfigErrorCode)[keyof typeof ConfigErrorCode]

/** Where a configuration value came from, so an error can point the operator at it. */
export type ConfigSource =
  | { readonly kind: 'default' }
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'env'; readonly variable: string }
  | { readonly kind: 'set' }

export function describeSource(source: ConfigSource): string {
  switch (source.kind) {
    case 'default':
      return 'default'
    case 'file':
      return `from ${source.path}`
    case 'env':
      return `from environment variable ${source.variable}`
    case 'set':
      return 'from --set'
  }
}

/** Everything that stops start-up because of configuration; the CLI prints `message` and exits 2. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError'
  constructor(
    readonly code: ConfigErrorCode,
    /** Dotted key path (`server.mqtt.tcp.addr`, `queues[0].name`); empty when no single key is at fault. */
    readonly key: string,
    message: string,
    /** The offending value as given, when there is one. */
    readonly value?: unknown,
    readonly source?: ConfigSource,
  ) {
    super(message)
  }
}

/** Renders a user-given value for an error message: strings quoted, structures as JSON, long ones cut. */
export function showValue(value: unknown): string {
  let text: string
  if (typeof value === 'string') text = JSON.stringify(value)
  else if (value === undefined) text = 'nothing'
  else {
    try {
      text = JSON.stringify(value) ?? String(value)
    } catch {
      text = String(value)
    }
  }
  return text.length > 120 ? `${text.slice(0, 117)}...` : text
}
