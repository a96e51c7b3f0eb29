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

  it('takes mosquitto\'s -p/--port PORT as the MQTT TCP port, before any --set of the same key', () => {
    expect(parseCommand(['-p', '1884'])).toEqual({ kind: 'serve', sets: ['server.mqtt.tcp.addr=:1884'] })
    expect(parseCommand(['check-config', '--port', '1884', '--set', 'server.mqtt.tcp.addr=:1999'])).toEqual({ kind: 'check-config', sets: ['server.mqtt.tcp.addr=:1884', 'server.mqtt.tcp.addr=:1999'] })
  })

  it('refuses a -p that is not a port, naming the key it sets', () => {
    expect(() => parseCommand(['-p', '99999'])).toThrow('-p/--port must be a TCP port from 0 to 65535, got "99999" (it sets server.mqtt.tcp.addr)')
    expect(() => parseCommand(['-p', ':1884'])).toThrow(UsageError)
  })

  it('names an unknown option and how settings are given, without parseArgs\'s advice about positionals', () => {
    expect(() => parseCommand(['-d'])).toThrow(new UsageError('unknown option -d; every other setting is a configuration key: --set key.path=value (keys: fluxmq --help)'))
  })

  it.each([
    [['--bogus']],
    [['serve-now']],
    [['check-config', 'extra']],
    [['passwd', 'pw']],
    [['passwd', 'pw', 'alice', '--set', 'a=1']],
    [['passwd', 'pw', 'alice', '-p', '1884']],
    [['passwd', 'pw', 'alice', '--delete', '--password', 'x']],
    [['--password', 'x']],
    [['--config']],
  ])('refuses %j with a UsageError', (argv) => {
    expect(() => parseCommand(argv)).toThrow(UsageError)
  })
})
