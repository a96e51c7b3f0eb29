import { describe, expect, it } from 'vitest'
import { readVarint, VARINT_INVALID, varintSize, writeVarint, type VarintRead } from './varint.js'

describe('Variable Byte Integer', () => {
  const boundaries = [0, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_455]

  it('writes and reads back the boundary values of each size (MQTT 5 §1.5.5)', () => {
    for (const value of boundaries) {
      const buf = Buffer.alloc(4)
      const end = writeVarint(buf, 0, value)
      expect(end, String(value)).toBe(varintSize(value))
      const out: VarintRead = { value: 0, end: 0 }
      readVarint(buf, 0, end, out)
      expect(out).toEqual({ value, end })
    }
  })

  it('reports -1 while bytes are missing', () => {
    const out: VarintRead = { value: 0, end: 0 }
    readVarint(Buffer.from([0x80, 0x80]), 0, 2, out)
    expect(out.value).toBe(-1)
  })

  it('[MQTT-1.5.5-1] rejects a fifth byte and a padded (non-shortest) encoding', () => {
    const out: VarintRead = { value: 0, end: 0 }
    readVarint(Buffer.from([0x80, 0x80, 0x80, 0x80, 0x01]), 0, 5, out)
    expect(out.value).toBe(VARINT_INVALID)
    readVarint(Buffer.from([0xff, 0x00]), 0, 2, out)
    expect(out.value).toBe(VARINT_INVALID)
  })
})
