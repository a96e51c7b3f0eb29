import { describe, expect, it } from 'vitest'
import { IncomingQos2 } from './incoming-qos2.js'

describe('IncomingQos2', () => {
  it('[MQTT-4.3.3-10] [MQTT-4.3.3-12] an id is taken until released, then known as released, oldest forgotten beyond the bound', () => {
    const ids = new IncomingQos2()
    ids.receive(1)
    ids.receive(2)
    expect([...ids.received]).toEqual([1, 2])
    expect(ids.release(3, 2)).toBe(false)
    expect(ids.release(1, 1)).toBeUndefined()
    // The second release exceeds the bound of one: the oldest released id is forgotten.
    expect(ids.release(2, 1)).toBe(1)
    expect([...ids.released]).toEqual([2])
    // A released id used again carries a new message.
    ids.receive(2)
    expect([...ids.received]).toEqual([2])
    expect([...ids.released]).toEqual([])
  })
})
