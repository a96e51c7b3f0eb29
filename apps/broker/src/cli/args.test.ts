import { describe, expect, it } from 'vitest'
import { UsageError, parseCommand } from './args.js'

describe('parseCommand', () => {
  it('runs the broker with no arguments', () => {
    expect(parseCommand([])).toEqual({ kind: 'serve', sets: [] })
  })

  it('collects --config and repeated --set in order, short forms too', () => {
    expect(parseCommand(['--config', 'f.yaml', '--set', 'a.b=1', '-s', 'a.b=2'])).toEqual({ kind: 'serve', file: 'f.yaml', sets: ['a.b=1', 'a.b=2'] })
    expect(parseCommand(['-c', 'f.yaml'])).toEqual({ kind: 'serve', file: 'f.yaml', sets: [] })
  })

  it('knows check-config, help and version', () => {
    expect(parseCommand(['check-config', '--set', 'x=1'])).toEqual({ kind: 'check-config', sets: ['x=1'] })
    expect(parseCommand(['--help'])).toEqual({ kind: 'help' })
    expect(parseCommand(['-v'])).toEqual({ kind: 'version' })
  })

  it('parses passwd FILE USER with --password or --delete', () => {
    expect(parseCommand(['passwd', 'pw', 'alice'])).toEqual({ kind: 'passwd', file: 'pw', username: 'alice', remove: false })
    expect(parseCommand(['passwd', 'pw', 'alice', '--password', 's'])).toEqual({ kind: 'passwd', file: 'pw', username: 'alice', password: 's', remove: false })
    expect(parseCommand(['passwd', 'pw', 'alice', '--delete'])).toEqual({ kind: 'passwd', file: 'pw', username: 'alice', remove: true })
  })

  it.each([
    [['--bogus']],
    [['serve-now']],
    [['check-config', 'extra']],
    [['passwd', 'pw']],
    [['passwd', 'pw', 'alice', '--set', 'a=1']],
    [['passwd', 'pw', 'alice', '--delete', '--password', 'x']],
    [['--password', 'x']],
    [['--config']],
  ])('refuses %j with a UsageError', (argv) => {
    expect(() => parseCommand(argv)).toThrow(UsageError)
  })
})
