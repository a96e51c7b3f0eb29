import { describe, expect, it } from 'vitest'
import { dollarExcluded, hasWildcard, isDollarTopic, levelsCover, levelsIntersect, topicMatches } from './match.js'

const covers = (outer: string, inner: string): boolean => levelsCover(outer.split('/'), inner.split('/'))
const intersect = (a: string, b: string): boolean => levelsIntersect(a.split('/'), b.split('/'))

describe('the $-topic rule [MQTT-4.7.2-1]', () => {
  it('isDollarTopic is a first character "$"', () => {
    expect(isDollarTopic('$SYS/x')).toBe(true)
    expect(isDollarTopic('$')).toBe(true)
    expect(isDollarTopic('a/$SYS')).toBe(false)
    expect(isDollarTopic('')).toBe(false)
  })
  it('dollarExcluded: a filter starting with a wildcard never meets a $-topic', () => {
    expect(dollarExcluded('#', '$SYS/x')).toBe(true)
    expect(dollarExcluded('+/x', '$SYS/x')).toBe(true)
    expect(dollarExcluded('$SYS/#', '$SYS/x')).toBe(false)
    expect(dollarExcluded('#', 'a/$x')).toBe(false)
  })
})

describe('hasWildcard', () => {
  it('finds "+" or "#" anywhere', () => {
    for (const f of ['#', 'a/+', '+/b', 'a/#']) expect(hasWildcard(f), f).toBe(true)
    for (const f of ['a', 'a/b', '$SYS/x']) expect(hasWildcard(f), f).toBe(false)
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
