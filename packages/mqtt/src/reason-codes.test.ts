import { Refusal } from '@fluxmq/core'
import { ReasonCode } from '@fluxmq/mqtt-codec'
import { describe, expect, it } from 'vitest'
import { pubackReason, reasonOf, subackReason } from './reason-codes.js'

describe('refusals as MQTT 5 reason codes', () => {
  it('gives every refusal a failure code (>= 0x80) of its own', () => {
    const codes = Object.values(Refusal).map(reasonOf)
    for (const code of codes) expect(code).toBeGreaterThanOrEqual(0x80)
    expect(new Set(codes).size).toBe(codes.length)
    expect(reasonOf(Refusal.SessionTakenOver)).toBe(ReasonCode.SessionTakenOver)
  })

  it('[MQTT-5 3.4.2.1] PUBACK carries only the codes PUBACK allows', () => {
    expect(pubackReason('accepted')).toBe(ReasonCode.Success)
    expect(pubackReason('no_subscribers')).toBe(ReasonCode.NoMatchingSubscribers)
    expect(pubackReason(Refusal.NotAuthorized)).toBe(ReasonCode.NotAuthorized)
    expect(pubackReason(Refusal.TopicInvalid)).toBe(ReasonCode.TopicNameInvalid)
    expect(pubackReason(Refusal.NotFound)).toBe(ReasonCode.ImplementationSpecificError)
    expect(pubackReason(Refusal.ServerUnavailable)).toBe(ReasonCode.ImplementationSpecificError)
  })

  it('[MQTT-5 3.9.3] SUBACK carries the granted QoS or a code SUBACK allows', () => {
    expect(subackReason(2)).toBe(2)
    expect(subackReason(Refusal.TopicInvalid)).toBe(ReasonCode.TopicFilterInvalid)
    expect(subackReason(Refusal.QuotaExceeded)).toBe(ReasonCode.QuotaExceeded)
    expect(subackReason(Refusal.ProtocolViolation)).toBe(ReasonCode.UnspecifiedError)
  })
})
