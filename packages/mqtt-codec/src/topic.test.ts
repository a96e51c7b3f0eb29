import { describe, expect, it } from 'vitest'
import { isValidTopicFilter, isValidTopicName } from './topic.js'

describe('isValidTopicName', () => {
  it('accepts ordinary names, $-topics, empty levels and multi-byte characters', () => {
    for (const name of ['a', 'a/b/c', '/', 'a//b', '$SYS/broker', 'é/😀']) expect(isValidTopicName(name), name).toBe(true)
  })

  it('[MQTT-4.7.3-1] rejects the empty name', () => {
    expect(isValidTopicName('')).toBe(false)
  })

  it('[MQTT-3.3.2-2] rejects wildcards', () => {
    for (const name of ['a/+', '#', 'a/b#', '+x']) expect(isValidTopicName(name), name).toBe(false)
  })

  it('[MQTT-1.5.4-2] [MQTT-4.7.3-3] rejects U+0000 and names over 65,535 bytes', () => {
    expect(isValidTopicName('a\u0000')).toBe(false)
    expect(isValidTopicName('é'.repeat(32768))).toBe(false)
    expect(isValidTopicName('a'.repeat(65535))).toBe(true)
  })
})

describe('isValidTopicFilter', () => {
  it('accepts wildcards that fill whole levels', () => {
    for (const filter of ['#', '+', 'a/#', 'a/+/b', '+/+', '/+', 'a//#', '$share/g/a/#', '$share/g/+', '$SYS/#']) expect(isValidTopicFilter(filter), filter).toBe(true)
  })

  it('[MQTT-4.7.1-2] rejects # that is not the whole last level', () => {
    for (const filter of ['a/#/b', 'a#', '#/a', 'a/b#']) expect(isValidTopicFilter(filter), filter).toBe(false)
  })

  it('[MQTT-4.7.1-3] rejects + that is not a whole level', () => {
    for (const filter of ['a+', 'a/+b', '++', 'a/b+/c']) expect(isValidTopicFilter(filter), filter).toBe(false)
  })

  it('[MQTT-4.7.3-1] rejects the empty filter', () => {
    expect(isValidTopicFilter('')).toBe(false)
  })

  it('[MQTT-4.8.2-1] [MQTT-4.8.2-2] checks the share name and the filter of a shared subscription', () => {
    for (const filter of ['$share//a', '$share/g', '$share/g/', '$share/g+/a', '$share/#/a', '$share/g/a#']) expect(isValidTopicFilter(filter), filter).toBe(false)
  })
})
