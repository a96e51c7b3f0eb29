import { QueueError, QueueErrorCode } from './errors.js'

/** Where a stream queue's group starts reading (SPEC §4 `cursor`). */
export type Cursor =
  | { readonly kind: 'first' }
  | { readonly kind: 'last' }
  | { readonly kind: 'offset'; readonly offset: number }
  | { readonly kind: 'timestamp'; readonly at: number }

const DIGITS = /^\d{1,16}$/
const TIMESTAMP = 'timestamp='

/** Parses `first`, `last`, `<offset>` or `timestamp=<ms since the epoch>`; throws BadCursor. */
export function parseCursor(text: string): Cursor {
  if (text === 'first') return { kind: 'first' }
  if (text === 'last') return { kind: 'last' }
  if (DIGITS.test(text) && Number.isSafeInteger(Number(text))) return { kind: 'offset', offset: Number(text) }
  if (text.startsWith(TIMESTAMP)) {
    const ms = text.slice(TIMESTAMP.length)
    if (DIGITS.test(ms) && Number.isSafeInteger(Number(ms))) return { kind: 'timestamp', at: Number(ms) }
  }
  throw new QueueError(QueueErrorCode.BadCursor, `invalid cursor ${JSON.stringify(text)}: expected first, last, an offset or timestamp=<ms>`)
}
