import { describe, expect, it } from 'vitest'
import { CodecError, CodecErrorCode, malformed } from './errors.js'

describe('CodecError', () => {
  it('names the rule in its message and keeps code, reason code and rule when stamped with a version', () => {
    const error = malformed('PUBLISH QoS is 3', 'MQTT-3.3.1-4')
    expect(error.message).toBe('PUBLISH QoS is 3 [MQTT-3.3.1-4]')
    const stamped = error.withProtocolVersion(5)
    expect(stamped).toBeInstanceOf(CodecError)
    expect(stamped).toMatchObject({ code: CodecErrorCode.MalformedPacket, reasonCode: 0x81, rule: 'MQTT-3.3.1-4', protocolVersion: 5, message: error.message })
  })

  it('keeps a version it already has', () => {
    const stamped = malformed('x').withProtocolVersion(4)
    expect(stamped.withProtocolVersion(5).protocolVersion).toBe(4)
    expect(malformed('x').withProtocolVersion(undefined).protocolVersion).toBeUndefined()
  })

  it('uses stable FLUXMQ_ERR_ codes', () => {
    for (const code of Object.values(CodecErrorCode)) expect(code).toMatch(/^FLUXMQ_ERR_MQTT_[A-Z_]+$/)
  })
})
