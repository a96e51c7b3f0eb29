import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import type { Logger } from '@fluxmq/core'
import { LOOPBACK_ARGS } from '@fluxmq/testing'
import { connectAsync } from 'mqtt'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { startBroker } from '../app.js'
import type { RunningBroker } from '../app.js'
import { loadConfig } from '../config/load.js'
import { parseCommand } from './args.js'
import { baseUrl } from './ctl.js'
import { duration, table } from './ctl-format.js'
import { ExitCode } from './lifecycle.js'
import { runCli } from './test-support/run-cli.js'

vi.setConfig({ testTimeout: 30_000 })

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent }
const TOKEN = 'ctl-test-token'


describe('fluxmq ctl against a running node', () => {
  let broker: RunningBroker
  let client: MqttClient
  let http: string
  const ctl = (...argv: string[]) => runCli(['ctl', '--set', `server.http.addr=${http}`, '--set', `server.http.token=${TOKEN}`, ...argv])

  beforeAll(async () => {
    const sets = LOOPBACK_ARGS.filter((argument) => argument !== '--set')
    broker = await startBroker(loadConfig({ sets: [...sets, `server.http.token=${TOKEN}`] }).config, silent)
    http = `127.0.0.1:${broker.addresses.http?.port}`
    client = await connectAsync(`mqtt://127.0.0.1:${broker.addresses['mqtt-tcp']?.port}`, { clientId: 'ctl-sensor', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 300 }, reconnectPeriod: 0 })
    await client.subscribeAsync('plant/+/temp', { qos: 1, nl: true, properties: { subscriptionIdentifier: 7 } })
  })
  afterAll(async () => {
    await client.endAsync()
    await broker.close()
  })

  it('status: node, version, listeners and readiness, exit 0 when ready', async () => {
    const result = await ctl('status')
    expect(result.code).toBe(ExitCode.Ok)
    expect(result.out).toMatch(/^node \S+: fluxmq \S+, up \d+s, ready\n {2}listeners: .*mqtt-tcp=127\.0\.0\.1:\d+/)
  })

  it('sessions and session CLIENT_ID show what the admin API holds', async () => {
    const sessions = await ctl('sessions')
    expect(sessions.code).toBe(ExitCode.Ok)
    expect(sessions.out).toMatch(/^1 session\nCLIENT ID +STATE +PROTOCOL/)
    expect(sessions.out).toMatch(/ctl-sensor +connected +mqtt5? +- +1 +0 +0 +127\.0\.0\.1/)
    const one = await ctl('session', 'ctl-sensor')
    expect(one.out).toContain('expiry interval: 300 s')
    expect(one.out).toMatch(/plant\/\+\/temp +1 +no-local id=7\n$/)
  })

  it('subscriptions pages with --limit/--offset', async () => {
    const result = await ctl('subscriptions', '--limit', '1', '--offset', '0')
    expect(result.out).toMatch(/^1 subscription\nCLIENT ID +FILTER +QOS +OPTIONS\nctl-sensor +plant\/\+\/temp +1 +no-local id=7\n$/)
    expect((await ctl('subscriptions', '--offset', '5')).out).toBe('1 subscription, showing none (--offset, --limit)\n')
  })

  it('--json prints the API answer itself', async () => {
    const result = await ctl('--json', 'session', 'ctl-sensor')
    expect(JSON.parse(result.out)).toMatchObject({ clientId: 'ctl-sensor', connected: true, subscriptions: [{ filter: 'plant/+/temp', qos: 1 }] })
  })

  it('nodes, cluster and queues', async () => {
    expect((await ctl('nodes')).out).toMatch(/^NODE +STATUS +VERSION +UPTIME +LISTENERS\n\S+ \(this\) +up /)
    expect((await ctl('cluster')).out).toMatch(/^cluster fluxmq: clustering off, leader \S+, nodes \S+\n$/)
    expect((await ctl('queues')).out).toBe('no queues\n')
  })

  it('an unknown session, a wrong token and an unreachable node exit 1 with one line', async () => {
    expect(await ctl('session', 'nobody')).toEqual({ code: ExitCode.Failure, out: '', err: `fluxmq ctl: no session "nobody" on http://${http}\n` })
    const wrong = await runCli(['ctl', '--url', `http://${http}`, '--token', 'nope', 'sessions'])
    expect(wrong).toMatchObject({ code: ExitCode.Failure, err: expect.stringContaining('refused the admin API: the bearer token is wrong') })
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const port = (closed.address() as AddressInfo).port
    await new Promise((resolve) => closed.close(resolve))
    expect(await runCli(['ctl', '--url', `http://127.0.0.1:${port}`, '--token', '', 'status'])).toEqual({
      code: ExitCode.Failure,
      out: '',
      err: `fluxmq ctl: cannot reach http://127.0.0.1:${port}: ECONNREFUSED\n`,
    })
  })
})

describe('fluxmq ctl arguments', () => {
  it('reaches a wildcard bind address on loopback', () => {
    expect(baseUrl({}, { addr: { host: '', port: 8081 }, token: '' })).toBe('http://127.0.0.1:8081')
    expect(baseUrl({}, { addr: { host: '::', port: 8081 }, token: '' })).toBe('http://[::1]:8081')
    expect(baseUrl({}, { addr: { host: '10.0.0.5', port: 9000 }, token: '' })).toBe('http://10.0.0.5:9000')
    expect(baseUrl({ url: 'http://127.0.0.1:1/' }, { addr: null, token: '' })).toBe('http://127.0.0.1:1')
  })

  it('usage errors exit 2', async () => {
    for (const argv of [['ctl'], ['ctl', 'reboot'], ['ctl', 'session'], ['ctl', 'nodes', '--limit', '5'], ['ctl', 'sessions', '--limit', '0'], ['--url', 'http://x', 'check-config'], ['ctl', '--url', 'ftp://x', 'status']]) {
      const result = await runCli(argv)
      expect(result.code, argv.join(' ')).toBe(ExitCode.Usage)
      expect(result.err, argv.join(' ')).toMatch(/^fluxmq: .+\nRun "fluxmq --help" for usage\.\n$/)
    }
    expect((await runCli(['ctl', '--set', 'server.http.addr=', 'status'])).err).toMatch(/^fluxmq: the HTTP listener is disabled/)
    expect(parseCommand(['ctl', 'sessions', '--limit', '20'])).toMatchObject({ kind: 'ctl', query: { what: 'sessions', limit: 20 } })
  })

  it('formats durations and tables', () => {
    expect([duration(0), duration(59), duration(3_725), duration(90_061)]).toEqual(['0s', '59s', '1h2m5s', '1d1h1m1s'])
    expect(table(['A', 'LONGER'], [['wide cell', 'x']])).toBe('A          LONGER\nwide cell  x\n')
  })
})
