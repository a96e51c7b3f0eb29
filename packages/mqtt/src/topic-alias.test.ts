import { ReasonCode } from '@fluxmq/mqtt-codec'
import { describe, expect, it } from 'vitest'
import { MqttProtocolError } from './errors.js'
import { InboundTopicAliases, OutboundTopicAliases } from './topic-alias.js'

const reasonOf = (fn: () => unknown): number | undefined => {
  try {
    fn()
  } catch (err) {
    if (err instanceof MqttProtocolError) return err.reasonCode
    throw err
  }
  return undefined
}

describe('InboundTopicAliases', () => {
  it('maps an alias set with a topic and resolves alias-only publishes', () => {
    const aliases = new InboundTopicAliases(2)
    expect(aliases.resolve('a/b', 1)).toBe('a/b')
    expect(aliases.resolve('', 1)).toBe('a/b')
    expect(aliases.resolve('c', 1)).toBe('c')
    expect(aliases.resolve('', 1)).toBe('c')
    expect(aliases.resolve('plain', undefined)).toBe('plain')
  })

  it('[MQTT-3.3.2-8] [MQTT-3.3.2-9] alias 0 or above the maximum is 0x94', () => {
    const aliases = new InboundTopicAliases(2)
    expect(reasonOf(() => aliases.resolve('t', 0))).toBe(ReasonCode.TopicAliasInvalid)
    expect(reasonOf(() => aliases.resolve('t', 3))).toBe(ReasonCode.TopicAliasInvalid)
    expect(reasonOf(() => new InboundTopicAliases(0).resolve('t', 1))).toBe(ReasonCode.TopicAliasInvalid)
  })

  it('an empty topic with an alias that was never set is a protocol error 0x82 (§3.3.4)', () => {
    const aliases = new InboundTopicAliases(5)
    expect(reasonOf(() => aliases.resolve('', 4))).toBe(ReasonCode.ProtocolError)
  })
})

describe('OutboundTopicAliases', () => {
  it('[MQTT-3.3.2-11] assigns aliases up to the client maximum, then sends plain topics', () => {
    const aliases = new OutboundTopicAliases(2)
    expect(aliases.choose('a')).toBe(-1)
    expect(aliases.choose('a')).toBe(1)
    expect(aliases.choose('b')).toBe(-2)
    expect(aliases.choose('c')).toBe(0)
    expect(aliases.choose('b')).toBe(2)
  })

  it('maximum 0 disables aliases', () => {
    expect(new OutboundTopicAliases(0).choose('a')).toBe(0)
  })

  it('forget undoes a fresh assignment only', () => {
    const aliases = new OutboundTopicAliases(3)
    const first = aliases.choose('a')
    aliases.forget('a', first)
    expect(aliases.choose('a')).toBe(-1)
    aliases.forget('a', aliases.choose('a'))
    expect(aliases.choose('a')).toBe(1)
  })
})
