import { describe, expect, it } from 'vitest'
import type { TopicErrorKind } from './error.js'
import { topicNameUnitError, validateTopicFilter, validateTopicName } from './validate.js'

const nameKind = (topic: string): TopicErrorKind | undefined => validateTopicName(topic)?.kind
const filterKind = (filter: string): TopicErrorKind | undefined => validateTopicFilter(filter)?.kind

describe('validateTopicName', () => {
  it('accepts ordinary names, empty levels, $-topics and multi-byte characters', () => {
    for (const t of ['a', 'a/b/c', '/', 'a//b', '$SYS/x', '$SYS/broker', ' ', 'ü/€', 'é/😀']) expect(validateTopicName(t), t).toBeUndefined()
  })
  it('[MQTT-4.7.3-1] rejects the empty name', () => {
    expect(nameKind('')).toBe('empty')
    expect(validateTopicName('')?.rule).toBe('MQTT-4.7.3-1')
  })
  it('[MQTT-3.3.2-2] rejects wildcards in a topic name', () => {
    for (const t of ['a/+', '#', 'a/#', 'a+b', 'a/b#', '+x']) expect(nameKind(t), t).toBe('wildcard-in-name')
    expect(validateTopicName('a/+')?.rule).toBe('MQTT-3.3.2-2')
  })
  it('[MQTT-4.7.3-2] rejects U+0000', () => {
    expect(nameKind('a\u0000b')).toBe('null-character')
    expect(nameKind('a\u0000')).toBe('null-character')
  })
  it('[MQTT-4.7.3-3] rejects names over 65,535 bytes, counted in UTF-8', () => {
    expect(nameKind('é'.repeat(32768))).toBe('too-long')
    expect(nameKind('é'.repeat(32767))).toBeUndefined()
    expect(nameKind('a'.repeat(65535))).toBeUndefined()
    expect(nameKind('a'.repeat(65536))).toBe('too-long')
    expect(nameKind('😀'.repeat(16384))).toBe('too-long')
    expect(nameKind('😀'.repeat(16383))).toBeUndefined()
  })
})

describe('topicNameUnitError', () => {
  it('[MQTT-3.3.2-2] [MQTT-4.7.3-2] names the wildcards and NUL, code unit or UTF-8 byte', () => {
    expect(topicNameUnitError(0x2b)?.kind).toBe('wildcard-in-name')
    expect(topicNameUnitError(0x23)?.kind).toBe('wildcard-in-name')
    expect(topicNameUnitError(0)?.kind).toBe('null-character')
    for (const unit of [0x61, 0x2f, 0x24, 0xc3, 0xa9, 0x20ac]) expect(topicNameUnitError(unit)).toBeUndefined()
  })
})

describe('validateTopicFilter', () => {
  it('accepts valid filters', () => {
    for (const f of ['a', '#', '+', 'a/#', '+/+', '/+', 'a/+/b', 'a//#', 'a/+/b/#', '$SYS/#', '$share/g/a/#', '$share/g/#', '$share/g/+'])
      expect(validateTopicFilter(f), f).toBeUndefined()
  })
  it('[MQTT-4.7.3-1] rejects the empty filter', () => {
    expect(filterKind('')).toBe('empty')
  })
  it('[MQTT-4.7.1-1] "#" must be alone in the last level', () => {
    for (const f of ['a#', 'a/#/b', '#/a', 'a/b#', '##']) expect(filterKind(f), f).toBe('misplaced-multi-level-wildcard')
    expect(validateTopicFilter('a#')?.rule).toBe('MQTT-4.7.1-1')
  })
  it('[MQTT-4.7.1-2] "+" must occupy a whole level', () => {
    for (const f of ['a+', '+a', 'a/+b', 'a/b+/c', '++']) expect(filterKind(f), f).toBe('misplaced-single-level-wildcard')
    expect(validateTopicFilter('a+')?.rule).toBe('MQTT-4.7.1-2')
  })
  it('[MQTT-4.7.3-2] rejects U+0000', () => {
    expect(filterKind('a/\u0000')).toBe('null-character')
    expect(filterKind('$share/g\u0000/a')).toBe('null-character')
  })
  it('[MQTT-4.7.3-3] rejects filters over 65,535 bytes', () => {
    expect(filterKind('a/'.repeat(32768))).toBe('too-long')
    expect(filterKind(`$share/g/${'é'.repeat(32764)}`)).toBe('too-long')
  })
  it('[MQTT-4.8.2-1] [MQTT-4.8.2-2] checks the share name and the filter after it', () => {
    const cases: [string, TopicErrorKind][] = [
      ['$share/', 'empty-share-name'],
      ['$share//a', 'empty-share-name'],
      ['$share/g', 'missing-shared-filter'],
      ['$share/g/', 'missing-shared-filter'],
      ['$share/g+/a', 'invalid-share-name'],
      ['$share/#/a', 'invalid-share-name'],
      ['$share/g/a#', 'misplaced-multi-level-wildcard'],
    ]
    for (const [f, kind] of cases) expect(filterKind(f), f).toBe(kind)
  })
  it('every error names what is wrong and the rule it breaks', () => {
    for (const f of ['', 'a#', 'a+', '$share//a', '$share/g+/a', '$share/g']) {
      const e = validateTopicFilter(f)
      expect(e?.message, f).toMatch(/\w/)
      expect(e?.rule, f).toMatch(/^MQTT-\d\.\d+\.\d+-\d+$/)
    }
  })
})
