import { describe, expect, it } from 'vitest'
import { checkTopicFilter, levelsCover, levelsIntersect, unshared } from './topic-filter.js'

const covers = (outer: string, inner: string): boolean => levelsCover(outer.split('/'), inner.split('/'))
const intersect = (a: string, b: string): boolean => levelsIntersect(a.split('/'), b.split('/'))

describe('checkTopicFilter', () => {
  it.each(['a', 'a/b', '#', '+', 'a/+/c', 'a/#', '+/+', '/', '$SYS/#'])('accepts %j', (filter) => expect(checkTopicFilter(filter)).toBeUndefined())
  it.each(['', 'a#', 'a/#/b', 'a+', 'a/b+/c', '#/a', 'a\u0000b'])('refuses %j [MQTT-4.7.1-1] [MQTT-4.7.1-2] [MQTT-4.7.3-1] [MQTT-4.7.3-2]', (filter) => expect(checkTopicFilter(filter)).toBeDefined())
  it('refuses a shared filter where a plain one is expected', () => expect(checkTopicFilter('$share/g/a')).toContain('$share'))
})

describe('unshared [MQTT-4.8.2-1]', () => {
  it('takes the filter out of $share/<group>/<filter> and leaves others alone', () => {
    expect(unshared('$share/g/a/+')).toBe('a/+')
    expect(unshared('a/+')).toBe('a/+')
  })
})

describe('levelsCover', () => {
  it.each([
    ['a/b', 'a/b', true],
    ['a/+', 'a/b', true],
    ['a/+', 'a/b/c', false],
    ['a/#', 'a', true],
    ['a/#', 'a/b/c', true],
    ['a/#', 'a/+/c', true],
    ['a/#', 'a/#', true],
    ['#', 'a/#', true],
    ['+/b', '/b', true],
    ['a/+', 'a/+', true],
    ['a/+', 'a/#', false],
    ['a/b', 'a/+', false],
    ['a/b', 'a/c', false],
  ])('%s covers %s: %s', (outer, inner, expected) => expect(covers(outer, inner)).toBe(expected))

  it('never lets a first-level wildcard cover a "$" topic [MQTT-4.7.2-1]', () => {
    expect(covers('#', '$SYS/x')).toBe(false)
    expect(covers('+/x', '$SYS/x')).toBe(false)
    expect(covers('#', '$SYS/#')).toBe(false)
    expect(covers('$SYS/#', '$SYS/x')).toBe(true)
  })
})

describe('levelsIntersect', () => {
  it.each([
    ['a/+', 'a/b', true],
    ['a/+', '+/b', true],
    ['a/b', 'a/c', false],
    ['a/#', 'a', true],
    ['a', 'a/#', true],
    ['a/+/c', 'a/#', true],
    ['a/+', 'a/b/c', false],
    ['a/+/+', 'a/b', false],
    ['#', '$SYS/x', false],
    ['$SYS/#', '$SYS/+', true],
  ])('%s and %s: %s', (a, b, expected) => {
    expect(intersect(a, b)).toBe(expected)
    expect(intersect(b, a)).toBe(expected)
  })
})
