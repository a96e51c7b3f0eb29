import { describe, expect, it } from 'vitest'
import { ReasonCode } from './reason-code.js'
import { parseSharedFilter, topicMatches, validateTopicFilter, validateTopicName } from './topic.js'

describe('validateTopicName', () => {
  it('accepts ordinary names, empty levels and $-topics', () => {
    for (const t of ['a', 'a/b/c', '/', 'a//b', '$SYS/x', ' ', 'ü/€']) expect(validateTopicName(t)).toBeUndefined()
  })
  it('[MQTT-4.7.3-1] rejects the empty name', () => {
    expect(validateTopicName('')).toBe(ReasonCode.TopicNameInvalid)
  })
  it('[MQTT-3.3.2-2] rejects wildcards in a topic name', () => {
    for (const t of ['a/+', '#', 'a/#', 'a+b']) expect(validateTopicName(t)).toBe(ReasonCode.TopicNameInvalid)
  })
  it('[MQTT-4.7.3-2] rejects U+0000', () => {
    expect(validateTopicName('a\u0000b')).toBe(ReasonCode.TopicNameInvalid)
  })
})

describe('validateTopicFilter', () => {
  it('accepts valid filters', () => {
    for (const f of ['a', '#', '+', 'a/#', '+/+', '/+', 'a/+/b/#', '$SYS/#', '$share/g/a/#', '$share/g/#'])
      expect(validateTopicFilter(f), f).toBeUndefined()
  })
  it('[MQTT-4.7.3-1] rejects the empty filter', () => {
    expect(validateTopicFilter('')).toBe(ReasonCode.TopicFilterInvalid)
  })
  it('[MQTT-4.7.1-1] "#" must be alone in the last level', () => {
    for (const f of ['a#', 'a/#/b', '#/a', 'a/b#', '##']) expect(validateTopicFilter(f), f).toBe(ReasonCode.TopicFilterInvalid)
  })
  it('[MQTT-4.7.1-2] "+" must occupy a whole level', () => {
    for (const f of ['a+', '+a', 'a/+b', 'a/b+/c', '++']) expect(validateTopicFilter(f), f).toBe(ReasonCode.TopicFilterInvalid)
  })
  it('[MQTT-4.7.3-2] rejects U+0000', () => {
    expect(validateTopicFilter('a/\u0000')).toBe(ReasonCode.TopicFilterInvalid)
  })
  it('[MQTT-4.8.2-1] [MQTT-4.8.2-2] checks the share name and the filter after it', () => {
    for (const f of ['$share/', '$share//a', '$share/g', '$share/g/', '$share/g+/a', '$share/#/a', '$share/g/a#'])
      expect(validateTopicFilter(f), f).toBe(ReasonCode.TopicFilterInvalid)
  })
})

describe('parseSharedFilter', () => {
  it('[MQTT-4.8.2] splits $share/<group>/<filter>', () => {
    expect(parseSharedFilter('$share/g1/a/+/c')).toEqual({ group: 'g1', filter: 'a/+/c' })
    expect(parseSharedFilter('$share/g/#')).toEqual({ group: 'g', filter: '#' })
  })
  it('returns undefined for ordinary and malformed filters', () => {
    for (const f of ['a/b', '$SYS/#', '$share/g', '$share//a', '$sharex/g/a']) expect(parseSharedFilter(f), f).toBeUndefined()
  })
})

describe('topicMatches', () => {
  const cases: [string, string, boolean][] = [
    ['a/b', 'a/b', true],
    ['a/+', 'a/b', true],
    ['a/+', 'a', false],
    ['a/+', 'a/', true],
    ['a/+', 'a/b/c', false],
    ['a/#', 'a', true],
    ['a/#', 'a/b/c', true],
    ['#', 'a/b', true],
    ['+/+', '/x', true],
    ['/+', '/x', true],
    ['+', '', true],
    ['a/b', 'a/b/c', false],
    ['a/b/c', 'a/b', false],
    ['a/+/#', 'a/b', true],
    ['#', '$SYS/x', false],
    ['+/x', '$SYS/x', false],
    ['$SYS/#', '$SYS/x', true],
    ['$SYS/+', '$SYS/x', true],
  ]
  for (const [f, t, want] of cases) {
    it(`${f} ${want ? 'matches' : 'does not match'} ${JSON.stringify(t)}${t.startsWith('$') ? ' [MQTT-4.7.2-1]' : ''}`, () => {
      expect(topicMatches(f, t)).toBe(want)
    })
  }
})
