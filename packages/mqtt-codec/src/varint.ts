import { MAX_VARIABLE_BYTE_INTEGER } from './protocol.js'

/** Bytes a Variable Byte Integer takes (MQTT 5 §1.5.5); the caller has range-checked `value`. */
export function varintSize(value: number): number {
  if (value < 0x80) return 1
  if (value < 0x4000) return 2
  if (value < 0x200000) return 3
  return 4
}

/** Writes `value` at `offset`, returns the offset after it. */
export function writeVarint(buf: Buffer, offset: number, value: number): number {
  let rest = value
  do {
    let digit = rest & 0x7f
    rest >>>= 7
    if (rest > 0) digit |= 0x80
    buf[offset++] = digit
  } while (rest > 0)
  return offset
}

export function isVarintValue(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_VARIABLE_BYTE_INTEGER
}

/**
 * Result slots of `readVarint`, reused so the hot path allocates nothing. `value` is -1 when
 * the bytes ran out before the integer ended, -2 when it is longer than four bytes or not in its
 * shortest form.
 */
export interface VarintRead {
  value: number
  end: number
}

const VARINT_INCOMPLETE = -1
export const VARINT_INVALID = -2

/** Reads a Variable Byte Integer from `buf[offset, limit)` into `out`. */
export function readVarint(buf: Buffer, offset: number, limit: number, out: VarintRead): void {
  let value = 0
  let multiplier = 1
  for (let i = 0; i < 4; i++) {
    if (offset + i >= limit) {
      out.value = VARINT_INCOMPLETE
      out.end = offset + i
      return
    }
    const byte = buf[offset + i] as number
    value += (byte & 0x7f) * multiplier
    if ((byte & 0x80) === 0) {
      // [MQTT-1.5.5-1] The shortest encoding is mandatory: a final 0x00 digit after a continuation is padding.
      out.value = byte === 0 && i > 0 ? VARINT_INVALID : value
      out.end = offset + i + 1
      return
    }
    multiplier *= 0x80
  }
  out.value = VARINT_INVALID
  out.end = offset + 4
}
