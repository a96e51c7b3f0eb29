/** Parsing and printing of the value syntaxes config keys use: durations, sizes, listener addresses. */

const DURATION_UNITS_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
}
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y
const DURATION_WHOLE = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/

/**
 * Go-style durations, as the original broker's config files wrote them: "500ms", "30s", "2h",
 * "1h30m", plus "d" for days. Returns whole milliseconds, or undefined when the text is not a
 * duration or is not a whole number of milliseconds. A bare "0" is accepted (no unit needed).
 */
export function parseDuration(text: string): number | undefined {
  if (text === '0') return 0
  if (!DURATION_WHOLE.test(text)) return undefined
  let total = 0
  DURATION_PART.lastIndex = 0
  for (let match = DURATION_PART.exec(text); match !== null; match = DURATION_PART.exec(text)) {
    const [, amount, unit] = match
    total += Number(amount) * (DURATION_UNITS_MS[unit as string] as number)
  }
  return Number.isSafeInteger(total) ? total : undefined
}

/** The shortest exact rendering: 7_200_000 → "2h", 90_000 → "1m30s", 1_500 → "1s500ms". */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s'
  let rest = ms
  let out = ''
  for (const unit of ['d', 'h', 'm', 's', 'ms']) {
    const size = DURATION_UNITS_MS[unit] as number
    const count = Math.floor(rest / size)
    if (count > 0) {
      out += `${count}${unit}`
      rest -= count * size
    }
  }
  return out
}

const SIZE_UNITS: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
}
const SIZE = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i

/**
 * Byte sizes: a plain integer is bytes; units B, KB/MB/GB (powers of 1000) and KiB/MiB/GiB
 * (powers of 1024), case-insensitive. Returns undefined unless the result is a whole byte count.
 */
export function parseSize(text: string): number | undefined {
  const match = SIZE.exec(text.trim())
  if (match === null) return undefined
  const [, amount, unitText] = match
  const unit = SIZE_UNITS[(unitText ?? '').toLowerCase() || 'b']
  if (unit === undefined) return undefined
  const bytes = Number(amount) * unit
  return Number.isSafeInteger(bytes) ? bytes : undefined
}

/** "1MiB" for 1_048_576; falls back to plain bytes when no binary unit divides it exactly. */
export function formatSize(bytes: number): string {
  for (const unit of ['GiB', 'MiB', 'KiB']) {
    const size = SIZE_UNITS[unit.toLowerCase()] as number
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`
  }
  return String(bytes)
}

/** A listener or peer address. `host` is '' for "every interface" (":1883"). */
export interface Address {
  readonly host: string
  readonly port: number
}

const ADDRESS = /^(\[[0-9a-fA-F:.%a-zA-Z]+\]|[^:[\]\s]*):(\d{1,5})$/

/**
 * "host:port", ":port" (every interface) or "[v6addr]:port"; "" means "none" (a disabled
 * listener, or "use the default" for keys that say so). Undefined when malformed.
 */
export function parseAddress(text: string): Address | null | undefined {
  if (text === '') return null
  const match = ADDRESS.exec(text)
  if (match === null) return undefined
  const [, rawHost, rawPort] = match
  const port = Number(rawPort)
  if (port > 65_535) return undefined
  const host = (rawHost as string).startsWith('[') ? (rawHost as string).slice(1, -1) : (rawHost as string)
  return { host, port }
}

export function formatAddress(address: Address | null): string {
  if (address === null) return ''
  const host = address.host.includes(':') ? `[${address.host}]` : address.host
  return `${host}:${address.port}`
}
