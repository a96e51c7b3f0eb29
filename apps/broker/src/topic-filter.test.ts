import { describe, expect, it } from 'vitest'
import { checkTopicFilter, filterCovers, filterMatches, filtersIntersect } from './topic-filter.js'

describe('checkTopicFilter', () => {
  it.each(['a', 'a/b', '#', '+', 'a/+/c', 'a/#', '+/+', '/', '$SYS/#'])('accepts %j', (filter) => expect(checkTopicFilter(filter)).toBeUndefined())
  it.each(['', 'a#', 'a/#/b', 'a+', 'a/b+/c', '#/a', 'a\u0000b'])('refuses %j [MQTT-4.7.1-2] [MQTT-4.7.1-3] [MQTT-4.7.3-1]', (filter) => expect(checkTopicFilter(filter)).toBeDefined())
})

describe('filterMatches', () => {
  it.each([
    ['a/b', 'a/b', true],
    ['a/+', 'a/b', true],
    ['a/+', 'a/b/c', false],
    ['a/#', 'a', true],
    ['a/#', 'a/b/c', true],
    ['#', 'a/b', true],
    ['+/b', '/b', true],
    ['a/b', 'a/c', false],
  ])('%s matches %s: %s', (filter, topic, expected) => expect(filterMatches(filter, topic)).toBe(expected))

  it('wildcards in the first level do not match "$" topics [MQTT-4.7.2-1]', () => {
    expect(filterMatches('#', '$SYS/x')).toBe(false)
    expect(filterMatches('+/x', '$SYS/x')).toBe(false)
    expect(filterMatches('$SYS/#', '$SYS/x')).toBe(true)
  })
})

describe('filterCovers', () => {
  it.each([
    ['a/#', 'a/+/c', true],
    ['a/#', 'a/#', true],
    ['a/#', 'a', true],
    ['#', 'a/#', true],
    ['a/+', 'a/+', true],
    ['a/+', 'a/#', false],
    ['a/+', 'a/b/c', false],
    ['a/b', 'a/+', false],
    ['+/b', 'x/b', true],
    ['#', '$SYS/#', false],
  ])('%s covers %s: %s', (outer, inner, expected) => expect(filterCovers(outer, inner)).toBe(expected))
})

describe('filtersIntersect', () => {
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
    expect(filtersIntersect(a, b)).toBe(expected)
    expect(filtersIntersect(b, a)).toBe(expected)
  })
})
