import { describe, expect, it } from 'vitest'
import { expiresAtFrom, messagePropertiesFromWire, messagePropertiesToWire, remainingExpirySeconds, userPropertiesFromWire, userPropertiesToWire } from './properties.js'

describe('user properties', () => {
  it('round-trips repeated names through the grouped wire shape', () => {
    const props = [
      ['a', '1'],
      ['b', '2'],
      ['a', '3'],
    ] as const
    const wire = userPropertiesToWire(props)
    expect(wire).toEqual({ a: ['1', '3'], b: '2' })
    expect(userPropertiesFromWire(wire)).toEqual([
      ['a', '1'],
      ['a', '3'],
      ['b', '2'],
    ])
    expect(userPropertiesToWire([])).toBeUndefined()
    expect(userPropertiesFromWire({})).toBeUndefined()
  })
})

describe('message properties', () => {
  it('carries request/response and content properties both ways, leaving absent ones out', () => {
    const wire = { payloadFormatIndicator: true, contentType: 'text/plain', responseTopic: 'r/t', correlationData: Buffer.from('c'), userProperties: { k: 'v' } }
    const props = messagePropertiesFromWire(wire)
    expect(props).toEqual({ payloadFormatIndicator: true, contentType: 'text/plain', responseTopic: 'r/t', correlationData: Buffer.from('c'), userProperties: [['k', 'v']] })
    expect(messagePropertiesToWire(props)).toEqual(wire)
    expect(messagePropertiesFromWire(undefined)).toEqual({})
    expect(Object.keys(messagePropertiesToWire({}))).toEqual([])
  })
})

describe('expiry', () => {
  it('[MQTT-3.3.2-6] remaining expiry is the received interval minus the time waited, rounded up', () => {
    const expiresAt = expiresAtFrom(60, 1_000)!
    expect(expiresAt).toBe(61_000)
    expect(remainingExpirySeconds(expiresAt, 1_000)).toBe(60)
    expect(remainingExpirySeconds(expiresAt, 11_500)).toBe(50)
    expect(remainingExpirySeconds(expiresAt, 60_999)).toBe(1)
    expect(expiresAtFrom(undefined, 5)).toBeUndefined()
  })
})
