import { describe, expect, it } from 'vitest'
import { formatAddress, formatDuration, formatSize, parseAddress, parseDuration, parseSize } from './units.js'

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['2h', 7_200_000],
    ['1h30m', 5_400_000],
    ['1.5s', 1_500],
    ['7d', 604_800_000],
    ['0', 0],
    ['0s', 0],
  ])('parses %s', (text, ms) => expect(parseDuration(text)).toBe(ms))

  it.each(['', '30', '-1s', '1x', 's', '1 s', '1.0001ms', '30S', '1e3s'])('refuses %j', (text) => expect(parseDuration(text)).toBeUndefined())

  it.each([0, 500, 1_000, 90_000, 7_200_000, 93_784_005])('formats %i back to text that parses to it', (ms) => {
    expect(parseDuration(formatDuration(ms))).toBe(ms)
  })

  it('formats in the largest units', () => {
    expect(formatDuration(7_200_000)).toBe('2h')
    expect(formatDuration(90_000)).toBe('1m30s')
    expect(formatDuration(0)).toBe('0s')
  })
})

describe('parseSize', () => {
  it.each([
    ['1MiB', 1_048_576],
    ['8MiB', 8_388_608],
    ['512KiB', 524_288],
    ['1kib', 1_024],
    ['10MB', 10_000_000],
    ['1GiB', 1_073_741_824],
    ['1024', 1_024],
    ['100B', 100],
    ['1.5KiB', 1_536],
  ])('parses %s', (text, bytes) => expect(parseSize(text)).toBe(bytes))

  it.each(['', 'MiB', '1XB', '-1', '1.3B', '1 Mi'])('refuses %j', (text) => expect(parseSize(text)).toBeUndefined())

  it('formats exact binary multiples with their unit and others in bytes', () => {
    expect(formatSize(1_048_576)).toBe('1MiB')
    expect(formatSize(8_388_608)).toBe('8MiB')
    expect(formatSize(1_536)).toBe('1536')
    expect(formatSize(0)).toBe('0')
  })
})

describe('parseAddress', () => {
  it.each([
    [':1883', { host: '', port: 1883 }],
    ['127.0.0.1:1883', { host: '127.0.0.1', port: 1883 }],
    ['localhost:0', { host: 'localhost', port: 0 }],
    ['[::1]:8083', { host: '::1', port: 8083 }],
  ])('parses %s', (text, address) => expect(parseAddress(text)).toEqual(address))

  it('parses "" as no address (listener disabled)', () => expect(parseAddress('')).toBeNull())

  it.each(['1883', 'host', ':65536', ':abc', '::1:1883', 'a b:1', 'host:'])('refuses %j', (text) => expect(parseAddress(text)).toBeUndefined())

  it('formats back, bracketing IPv6 hosts', () => {
    expect(formatAddress({ host: '', port: 1883 })).toBe(':1883')
    expect(formatAddress({ host: '::1', port: 1 })).toBe('[::1]:1')
    expect(formatAddress(null)).toBe('')
  })
})
