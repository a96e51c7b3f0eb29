import { readFileSync } from 'node:fs'
import { parseDocument } from 'yaml'
import { ConfigError, ConfigErrorCode, describeSource, showValue } from './errors.js'
import type { ConfigSource } from './errors.js'
import { ValueProblem } from './leaves.js'
import type { Leaf } from './leaves.js'
import { mosquittoConfError } from './mosquitto-conf.js'
import { configSchema } from './schema.js'
import type { FluxConfig } from './schema.js'
import { applyMapping, defaultsOf, leafPaths, suggest } from './section.js'
import type { MutableTree } from './section.js'

export const ENV_PREFIX = 'FLUXMQ_'

export interface ConfigInputs {
  /** `--config FILE.yaml`. */
  readonly file?: string
  /** Usually process.env; only FLUXMQ_* variables are read. */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** `--set key.path=value` arguments, in order (a later one wins). */
  readonly sets?: readonly string[]
}

export interface LoadedConfig {
  readonly config: FluxConfig
}

const LEAVES: ReadonlyMap<string, Leaf<unknown>> = new Map(leafPaths(configSchema))

/**
 * Environment names of every key: dots and underscores both become "_", upper-cased, so
 * `server.mqtt.tcp.max_connections` is FLUXMQ_SERVER_MQTT_TCP_MAX_CONNECTIONS. The name is looked
 * up in this table, never split, so underscores inside key names are unambiguous (a test checks
 * that no two keys share a name).
 */
export const ENV_NAMES: ReadonlyMap<string, string> = new Map(
  [...LEAVES.keys()].map((path) => [ENV_PREFIX + path.replace(/\./g, '_').toUpperCase(), path]),
)

/** Sources in order, a later one overriding: defaults < config file < FLUXMQ_* environment < --set. */
export function loadConfig(inputs: ConfigInputs = {}): LoadedConfig {
  const tree = defaultsOf(configSchema) as unknown as MutableTree
  if (inputs.file !== undefined) applyFile(tree, inputs.file)
  for (const [name, value] of Object.entries(inputs.env ?? {})) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined) continue
    const path = ENV_NAMES.get(name)
    // SPEC §2: unknown keys stop start-up, and FLUXMQ_* is the config namespace (tooling knobs
    // use other prefixes): a misspelt variable must not be silently ignored.
    if (path === undefined) throw unknownVariable(name)
    applyText(tree, path, value, { kind: 'env', variable: name })
  }
  for (const argument of inputs.sets ?? []) {
    const equals = argument.indexOf('=')
    if (equals <= 0) {
      throw new ConfigError(ConfigErrorCode.SetSyntax, '', `--set expects key.path=value, got ${showValue(argument)}`, argument, { kind: 'set' })
    }
    applyText(tree, argument.slice(0, equals).trim(), argument.slice(equals + 1), { kind: 'set' })
  }
  return { config: tree as unknown as FluxConfig }
}

function applyFile(tree: MutableTree, file: string): void {
  const source: ConfigSource = { kind: 'file', path: file }
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new ConfigError(ConfigErrorCode.File, '', `cannot read config file ${file}: ${(error as Error).message}`, undefined, source)
  }
  const document = parseDocument(text, { uniqueKeys: true, prettyErrors: true })
  const first = document.errors[0]
  const content: unknown = first === undefined ? document.toJS() : undefined
  // An empty file is an empty configuration; anything but a mapping at the top has no key to name.
  const mapping = content === null || (first === undefined && typeof content === 'object' && !Array.isArray(content))
  if (!mapping) {
    const mosquitto = mosquittoConfError(file, text)
    if (mosquitto !== undefined) throw mosquitto
  }
  if (first !== undefined) {
    throw new ConfigError(ConfigErrorCode.File, '', `config file ${file} is not valid YAML: ${first.message}`, undefined, source)
  }
  if (!mapping) {
    throw new ConfigError(ConfigErrorCode.File, '', `the config file must be a mapping of keys: ${file} holds ${describeShape(content)}`, content, source)
  }
  try {
    applyMapping(configSchema, tree, content)
  } catch (error) {
    throw toConfigError(error, '', source)
  }
}

function describeShape(value: unknown): string {
  if (Array.isArray(value)) return `a list (${showValue(value)})`
  return `a single value (${showValue(value)})`
}

function applyText(tree: MutableTree, path: string, text: string, source: ConfigSource): void {
  const leaf = LEAVES.get(path)
  if (leaf === undefined) throw unknownPath(path, source)
  const keys = path.split('.')
  let node = tree
  for (const key of keys.slice(0, -1)) node = node[key] as MutableTree
  try {
    node[keys[keys.length - 1] as string] = leaf.parse(text)
  } catch (error) {
    throw toConfigError(error, path, source)
  }
}

function unknownVariable(name: string): ConfigError {
  const near = suggest(name, [...ENV_NAMES.keys()])
  const hint = near === undefined ? '' : `; did you mean ${near}?`
  return new ConfigError(
    ConfigErrorCode.UnknownKey,
    '',
    `environment variable ${name} names no config key${hint} (FLUXMQ_* variables are configuration: unset it)`,
    undefined,
    { kind: 'env', variable: name },
  )
}

function unknownPath(path: string, source: ConfigSource): ConfigError {
  const section = [...LEAVES.keys()].some((leafPath) => leafPath.startsWith(`${path}.`))
  if (section) {
    return new ConfigError(
      ConfigErrorCode.UnknownKey,
      path,
      `config key ${path} is a section (${describeSource(source)}); set one of its keys, e.g. ${[...LEAVES.keys()].find((p) => p.startsWith(`${path}.`))}`,
      undefined,
      source,
    )
  }
  const near = suggest(path, [...LEAVES.keys()])
  const hint = near === undefined ? '' : `; did you mean ${near}?`
  return new ConfigError(ConfigErrorCode.UnknownKey, path, `unknown config key ${path} (${describeSource(source)})${hint}`, undefined, source)
}

/** Adds the key path (prefix + the problem's own sub-path) and the source to a leaf's complaint. */
function toConfigError(error: unknown, prefix: string, source: ConfigSource): unknown {
  if (!(error instanceof ValueProblem)) return error
  const key = prefix + (prefix !== '' && error.subPath !== '' && !error.subPath.startsWith('[') ? '.' : '') + error.subPath
  if (error.kind === 'unknown-key') {
    const parent = key.includes('.') ? key.slice(0, key.lastIndexOf('.') + 1) : ''
    const hint = error.detail === '' ? '' : `; did you mean ${parent}${error.detail}?`
    return new ConfigError(ConfigErrorCode.UnknownKey, key, `unknown config key ${key} (${describeSource(source)})${hint}`, undefined, source)
  }
  return new ConfigError(
    ConfigErrorCode.InvalidValue,
    key,
    `invalid value for ${key}: ${showValue(error.value)} (${describeSource(source)}); expected ${error.detail}`,
    error.value,
    source,
  )
}
