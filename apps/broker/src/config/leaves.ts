import { parse as parseYaml } from 'yaml'
import { formatAddress, formatDuration, formatSize, parseAddress, parseDuration, parseSize } from './units.js'
import type { Address } from './units.js'

/**
 * Why a value was refused, relative to the leaf being parsed; the loader turns it into a
 * ConfigError with the full key path and the source of the value.
 */
export class ValueProblem extends Error {
  constructor(
    readonly kind: 'invalid' | 'unknown-key',
    /** What would have been accepted (invalid) or a hint (unknown-key). */
    readonly detail: string,
    /** Path below the leaf (".name", "[2].topics"); '' for the leaf itself. */
    readonly subPath = '',
    readonly value?: unknown,
  ) {
    super(detail)
  }
}

/**
 * One configurable key. `parse` takes what YAML produced or, from an environment variable or
 * `--set`, the raw text, so every leaf accepts its values as strings too. Methods (not function
 * properties) keep Leaf<number> assignable to Leaf<unknown>.
 */
export interface Leaf<T> {
  readonly kind: 'leaf'
  readonly default: T
  /** What the key accepts, in words: used in errors and in the README table. */
  readonly expected: string
  parse(raw: unknown): T
  /** The value as an operator would write it in YAML (check-config prints this). */
  format(value: T): unknown
}

function leaf<T>(expected: string, defaultRaw: unknown, parse: (raw: unknown) => T, format: (value: T) => unknown): Leaf<T> {
  // Defaults go through the same parser as user values, so a default can never be out of range.
  return { kind: 'leaf', expected, default: parse(defaultRaw), parse, format }
}

function invalid(expected: string, value: unknown): never {
  throw new ValueProblem('invalid', expected, '', value)
}

export function string(defaultValue: string, options: { readonly pattern?: RegExp; readonly expected?: string } = {}): Leaf<string> {
  const expected = options.expected ?? 'a string'
  return leaf(
    expected,
    defaultValue,
    (raw) => {
      // YAML turns `node_id: 1` into a number; an operator meant the text.
      const text = typeof raw === 'number' && Number.isFinite(raw) ? String(raw) : raw
      if (typeof text !== 'string') return invalid(expected, raw)
      if (options.pattern !== undefined && text !== '' && !options.pattern.test(text)) return invalid(expected, raw)
      return text
    },
    (value) => value,
  )
}

export function bool(defaultValue: boolean): Leaf<boolean> {
  const expected = 'true or false'
  return leaf(
    expected,
    defaultValue,
    (raw) => {
      if (typeof raw === 'boolean') return raw
      if (raw === 'true') return true
      if (raw === 'false') return false
      return invalid(expected, raw)
    },
    (value) => value,
  )
}

function integerFrom(raw: unknown): number | undefined {
  if (typeof raw === 'number') return Number.isSafeInteger(raw) ? raw : undefined
  if (typeof raw === 'string' && /^-?\d+$/.test(raw.trim())) {
    const value = Number(raw.trim())
    return Number.isSafeInteger(value) ? value : undefined
  }
  return undefined
}

function rangeText(min: number, max: number, show: (n: number) => string): string {
  return max === Number.MAX_SAFE_INTEGER ? `at least ${show(min)}` : `from ${show(min)} to ${show(max)}`
}

export function int(defaultValue: number, min = 0, max = Number.MAX_SAFE_INTEGER): Leaf<number> {
  const expected = `an integer ${rangeText(min, max, String)}`
  return leaf(
    expected,
    defaultValue,
    (raw) => {
      const value = integerFrom(raw)
      if (value === undefined || value < min || value > max) return invalid(expected, raw)
      return value
    },
    (value) => value,
  )
}

/** A duration in milliseconds, written "500ms", "30s", "1h30m", "7d"; 0 may be written without a unit. */
export function duration(defaultValue: string | 0, min = 0, max = Number.MAX_SAFE_INTEGER): Leaf<number> {
  const expected = `a duration such as "500ms", "30s", "2h" or "1h30m", ${rangeText(min, max, formatDuration)}`
  return leaf(
    expected,
    defaultValue,
    (raw) => {
      const value = raw === 0 ? 0 : typeof raw === 'string' ? parseDuration(raw.trim()) : undefined
      if (value === undefined || value < min || value > max) return invalid(expected, raw)
      return value
    },
    formatDuration,
  )
}

/** A size in bytes, written "1MiB", "512KiB", "10MB" or a plain number of bytes. */
export function size(defaultValue: string | number, min = 0, max = Number.MAX_SAFE_INTEGER): Leaf<number> {
  const expected = `a size such as "1MiB", "512KiB" or a number of bytes, ${rangeText(min, max, formatSize)}`
  return leaf(
    expected,
    defaultValue,
    (raw) => {
      const value = typeof raw === 'number' ? integerFrom(raw) : typeof raw === 'string' ? parseSize(raw) : undefined
      if (value === undefined || value < min || value > max) return invalid(expected, raw)
      return value
    },
    formatSize,
  )
}

/** "host:port", ":port", "[v6]:port"; "" parses to null. */
export function address(defaultValue: string, emptyMeans: string): Leaf<Address | null> {
  const expected = `an address "host:port" or ":port", or "" (${emptyMeans})`
  return leaf(
    expected,
    defaultValue,
    (raw) => {
      const value = typeof raw === 'string' ? parseAddress(raw.trim()) : undefined
      if (value === undefined) return invalid(expected, raw)
      return value
    },
    formatAddress,
  )
}

export function oneOf<const V extends string>(defaultValue: V, values: readonly V[]): Leaf<V> {
  const expected = `one of ${values.join(', ')}`
  return leaf(
    expected,
    defaultValue,
    (raw) => {
      if (typeof raw !== 'string' || !(values as readonly string[]).includes(raw)) return invalid(expected, raw)
      return raw as V
    },
    (value) => value,
  )
}

/**
 * Parses a structured value that arrived as text (environment variable, `--set`): a YAML flow
 * value such as `[a, b]` or `[{name: q1}]`.
 */
export function structuredFromText(raw: unknown, expected: string): unknown {
  if (typeof raw !== 'string') return raw
  try {
    return parseYaml(raw) as unknown
  } catch {
    return invalid(expected, raw)
  }
}

/** A list of strings: a YAML sequence, or as text `[a, b]` or the comma-separated `a,b`. */
export function stringList(options: { readonly item?: (text: string) => string | undefined; readonly itemExpected?: string } = {}): Leaf<readonly string[]> {
  const itemExpected = options.itemExpected ?? 'a string'
  const expected = `a list of strings (YAML sequence, or "a,b" as text), each ${itemExpected}`
  return leaf(
    expected,
    [],
    (raw) => {
      const list =
        typeof raw === 'string' && !raw.trimStart().startsWith('[')
          ? raw
              .split(',')
              .map((part) => part.trim())
              .filter((part) => part !== '')
          : structuredFromText(raw, expected)
      if (!Array.isArray(list)) return invalid(expected, raw)
      return list.map((item: unknown, index) => {
        const problem = typeof item !== 'string' ? itemExpected : options.item?.(item)
        if (problem !== undefined) throw new ValueProblem('invalid', problem, `[${index}]`, item)
        return item as string
      })
    },
    (value) => [...value],
  )
}
