import { describe, expect, it } from 'vitest'
import { namesDelivery, nextDeliveryId, shortId } from './delivery-ids.js'

describe('delivery ids', () => {
  it('count up from 0x10001 with short ids that are never 0', () => {
    const none = new Map<number, unknown>()
    expect(nextDeliveryId(0, none)).toBe(0x10001)
    expect(nextDeliveryId(0x1fffe, none)).toBe(0x1ffff)
    // 0x20000 has short id 0: skipped.
    expect(nextDeliveryId(0x1ffff, none)).toBe(0x20001)
  })

  it('wrap after 2^32 - 1 back to 0x10001', () => {
    expect(nextDeliveryId(0xfffffffe, new Map())).toBe(0xffffffff)
    expect(nextDeliveryId(0xffffffff, new Map())).toBe(0x10001)
  })

  it('[MQTT-2.2.1-3] skip every short id still unsettled', () => {
    const unsettled = new Map<number, unknown>([
      [2, 'a'],
      [3, 'b'],
    ])
    expect(nextDeliveryId(0x10001, unsettled)).toBe(0x10004)
    // 65536 deliveries later the same short ids are still taken.
    expect(shortId(nextDeliveryId(0x20001, unsettled))).toBe(4)
  })

  it('find the one free short id when 65534 are unsettled', () => {
    const unsettled = new Map<number, unknown>()
    for (let s = 1; s <= 0xffff; s++) if (s !== 0x1234) unsettled.set(s, s)
    expect(shortId(nextDeliveryId(0x10001, unsettled))).toBe(0x1234)
    unsettled.set(0x1234, 0)
    expect(() => nextDeliveryId(0x10001, unsettled)).toThrow(RangeError)
  })

  it('a delivery is named by its full id or by its short id, not by another full id', () => {
    expect(namesDelivery(0x30007, 0x30007)).toBe(true)
    expect(namesDelivery(7, 0x30007)).toBe(true)
    expect(namesDelivery(0x20007, 0x30007)).toBe(false)
    expect(namesDelivery(8, 0x30007)).toBe(false)
  })
})
