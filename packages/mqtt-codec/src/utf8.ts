import { isUtf8 } from 'node:buffer'

/**
 * True when `s` is a legal MQTT UTF-8 Encoded String: well-formed UTF-8 (no surrogate code
 * points, no overlong forms) [MQTT-1.5.4-1] and no U+0000 [MQTT-1.5.4-2]. A JS string is
 * checked for lone surrogates, which cannot be encoded as UTF-8. The 65,535-byte length limit
 * is the encoder's business. Noncharacters are allowed: the spec only says SHOULD NOT
 * [MQTT-1.5.4-3] for them, and dropping a client over one would be harsher than the spec.
 */
export function isValidUtf8MqttString(s: string | Buffer): boolean {
  return typeof s === 'string' ? isWellFormedMqttString(s) : isValidUtf8Range(s, 0, s.length)
}

/**
 * Well-formed UTF-8 (RFC 3629), U+0000 allowed: what a payload with Payload Format Indicator 1
 * must be (MQTT 5 §3.3.2.3.2). The stricter `isValidUtf8MqttString` is for string fields.
 */
export function isWellFormedUtf8(bytes: Buffer): boolean {
  return isUtf8(bytes)
}

/** `isValidUtf8MqttString` for `buf[start, end)` without making a view when it is ASCII. */
export function isValidUtf8Range(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const byte = buf[i] as number
    if (byte === 0) return false // [MQTT-1.5.4-2]
    // Leave the ASCII fast path; the native validator handles multi-byte sequences.
    if (byte >= 0x80) {
      const rest = buf.subarray(i, end)
      return rest.indexOf(0) === -1 && isUtf8(rest)
    }
  }
  return true
}

function isWellFormedMqttString(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const unit = s.charCodeAt(i)
    if (unit === 0) return false // [MQTT-1.5.4-2]
    if (unit >= 0xd800 && unit <= 0xdfff) {
      // [MQTT-1.5.4-1] a high surrogate must be followed by a low one; a lone one has no UTF-8 form.
      const next = i + 1 < s.length ? s.charCodeAt(i + 1) : 0
      if (unit > 0xdbff || next < 0xdc00 || next > 0xdfff) return false
      i++
    }
  }
  return true
}
