import { describe, expect, it } from 'vitest'
import { DeliveryWindow } from './delivery-window.js'
import { Outgoing } from './outgoing.js'

const message = { topic: 't', payload: Buffer.from('x'), qos: 1 as const, retain: false, properties: {}, publishedAt: 0 }
const outgoing = (): Outgoing => new Outgoing(message, 1, false, undefined)

describe('DeliveryWindow', () => {
  it('finds an entry by its delivery id or its short id, in send order; touch moves it last', () => {
    const w = new DeliveryWindow()
    const [a, b] = [outgoing(), outgoing()]
    for (const out of [a, b]) {
      w.assignId(out)
      w.add(out)
    }
    expect([a.deliveryId, b.deliveryId]).toEqual([0x10001, 0x10002])
    expect(w.find(0x10002)).toBe(b)
    expect(w.find(2)).toBe(b)
    expect(w.find(0x20002)).toBeUndefined()
    w.touch(a)
    expect([...w.entries.values()]).toEqual([b, a])
    w.remove(a)
    expect(w.size).toBe(1)
  })

  it('[MQTT-4.4.0-1] a restored entry keeps its id and new ids continue after it without reusing its short id', () => {
    const w = new DeliveryWindow()
    const restored = outgoing()
    restored.deliveryId = 0x3fffe
    w.restore(restored)
    const next = outgoing()
    w.assignId(next)
    expect(next.deliveryId).toBe(0x3ffff)
    w.add(next)
    const after = outgoing()
    w.assignId(after)
    expect(after.deliveryId).toBe(0x40001)
  })
})
