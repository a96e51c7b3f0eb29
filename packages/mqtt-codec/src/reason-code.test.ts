import { describe, expect, it } from 'vitest'
import { ReasonCode } from './reason-code.js'

describe('ReasonCode', () => {
  it('uses the MQTT 5 numbers for session takeover and packet too large', () => {
    expect(ReasonCode.SessionTakenOver).toBe(0x8e)
    expect(ReasonCode.PacketTooLarge).toBe(0x95)
  })
})
