import { describe, expect, it } from 'vitest'
import { isSharedFilter, parseSharedFilter, unshared } from './shared.js'

describe('parseSharedFilter', () => {
  it('[MQTT-4.8.2] splits $share/<group>/<filter>', () => {
    expect(parseSharedFilter('$share/g1/a/+/c')).toEqual({ group: 'g1', filter: 'a/+/c' })
    expect(parseSharedFilter('$share/g/#')).toEqual({ group: 'g', filter: '#' })
  })
  it('returns undefined for ordinary and malformed filters', () => {
    for (const f of ['a/b', '$SYS/#', '$share/g', '$share//a', '$sharex/g/a']) expect(parseSharedFilter(f), f).toBeUndefined()
  })
})

describe('isSharedFilter', () => {
  it('is the $share/ prefix, valid or not', () => {
    expect(isSharedFilter('$share/g/a')).toBe(true)
    expect(isSharedFilter('$share//a')).toBe(true)
    expect(isSharedFilter('$sharex/g/a')).toBe(false)
    expect(isSharedFilter('a/$share/g')).toBe(false)
  })
})

describe('unshared [MQTT-4.8.2-1]', () => {
  it('takes the filter out of $share/<group>/<filter> and leaves others alone', () => {
    expect(unshared('$share/g/a/+')).toBe('a/+')
    expect(unshared('a/+')).toBe('a/+')
  })
})
