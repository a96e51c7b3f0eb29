import { describe, expect, it } from 'vitest'
import { isValidUtf8MqttString, isValidUtf8Range, isWellFormedUtf8 } from './utf8.js'

describe('isValidUtf8MqttString', () => {
  it('accepts ASCII, multi-byte and astral characters, as strings and as bytes', () => {
    for (const s of ['', 'a/b/c', 'é€', '😀/x', '\uFFFD', '\uFDD0']) {
      expect(isValidUtf8MqttString(s)).toBe(true)
      expect(isValidUtf8MqttString(Buffer.from(s))).toBe(true)
    }
  })

  it('[MQTT-1.5.4-2] rejects U+0000 in strings and bytes', () => {
    expect(isValidUtf8MqttString('a\u0000b')).toBe(false)
    expect(isValidUtf8MqttString(Buffer.from([0x61, 0x00]))).toBe(false)
    expect(isValidUtf8MqttString(Buffer.from([0xc3, 0xa9, 0x00]))).toBe(false)
  })

  it('[MQTT-1.5.4-1] rejects lone surrogates in strings', () => {
    expect(isValidUtf8MqttString('\uD800')).toBe(false)
    expect(isValidUtf8MqttString('a\uDC00')).toBe(false)
    expect(isValidUtf8MqttString('\uD83D\uDE00')).toBe(true)
  })

  it('[MQTT-1.5.4-1] rejects ill-formed UTF-8: stray continuation, truncation, overlong, surrogates, above U+10FFFF', () => {
    for (const bytes of [[0x80], [0xc3], [0xe2, 0x82], [0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xff]]) {
      expect(isValidUtf8MqttString(Buffer.from(bytes)), bytes.join(',')).toBe(false)
    }
  })

  it('checks only the given range of a buffer', () => {
    const buf = Buffer.from([0xff, 0x61, 0xc3, 0xa9, 0x00])
    expect(isValidUtf8Range(buf, 1, 4)).toBe(true)
    expect(isValidUtf8Range(buf, 0, 4)).toBe(false)
    expect(isValidUtf8Range(buf, 1, 5)).toBe(false)
  })
})

describe('isWellFormedUtf8', () => {
  it('accepts U+0000 (payloads may carry it) but not ill-formed bytes', () => {
    expect(isWellFormedUtf8(Buffer.from([0x61, 0x00, 0xc3, 0xa9]))).toBe(true)
    expect(isWellFormedUtf8(Buffer.from([0xed, 0xa0, 0x80]))).toBe(false)
  })
})
