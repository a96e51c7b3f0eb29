import { execFile } from 'node:child_process'
import { connect as netConnect } from 'node:net'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { client, nextMessage, testScope, until } from '../test-support/harness.js'
import { remoteAddressOf } from './listener.js'
import { HANDSHAKE_FAILURE_LOG_INTERVAL_MS } from './tls.js'

const run = promisify(execFile)

const s = testScope()

describe('TLS listener', () => {
  let dir: string
  let cert: Buffer
  let key: Buffer
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fluxmq-tls-'))
    await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')])
    cert = await readFile(join(dir, 'cert.pem'))
    key = await readFile(join(dir, 'key.pem'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('serves MQTT 3.1.1 and 5.0 over TLS with a certificate the client trusts', async () => {
    const t = await s.start()
    const address = await t.server.listenTls({ host: '127.0.0.1', port: 0, cert, key, clientAuth: 'none' })
    const url = `mqtts://127.0.0.1:${address.port}`
    const sub = await s.client({ protocolVersion: 5, ca: cert }, url)
    const pub = await s.client({ protocolVersion: 4, ca: cert }, url)
    await sub.subscribeAsync('tls/t', { qos: 1 })
    const got = nextMessage(sub)
    await pub.publishAsync('tls/t', 'secret', { qos: 1 })
    expect((await got).payload.toString()).toBe('secret')
  })

  it("clientAuth 'require' refuses a client without a certificate", async () => {
    const t = await s.start()
    const address = await t.server.listenTls({ host: '127.0.0.1', port: 0, cert, key, ca: cert, clientAuth: 'require' })
    await expect(client(`mqtts://127.0.0.1:${address.port}`, { protocolVersion: 5, ca: cert, connectTimeout: 2000 })).rejects.toThrow()
    const withCert = await s.client({ protocolVersion: 5, ca: cert, cert, key }, `mqtts://127.0.0.1:${address.port}`)
    expect(withCert.connected).toBe(true)
  })

  it('logs a failed handshake with the peer and the reason, then at most once per interval counting the rest', async () => {
    let now = 1_000_000
    const t = await s.start({ clock: { now: () => now } })
    const address = await t.server.listenTls({ host: '127.0.0.1', port: 0, cert, key, clientAuth: 'none' })
    const failures = () => t.logger.lines.filter((line) => line.msg === 'TLS handshake failed')
    /** Plain MQTT bytes on the TLS port, as a client configured without TLS sends them; resolves with its local "address:port" once the server has closed it. */
    const plainClient = () =>
      new Promise<string>((resolve, reject) => {
        let local = ''
        const socket = netConnect(address.port, '127.0.0.1', () => {
          local = `${socket.localAddress}:${socket.localPort}`
          socket.write(Buffer.from([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x00]))
        })
        socket.on('error', reject)
        socket.on('close', () => resolve(local))
        socket.resume()
      })

    const first = await plainClient()
    await until(() => failures().length === 1)
    expect(failures()[0]).toMatchObject({ level: 'warn', obj: { listener: 'tls', remote: first, failuresNotLogged: 0 } })
    expect(String(failures()[0]?.obj.reason)).toBe('wrong version number')

    for (let i = 0; i < 3; i += 1) await plainClient()
    // The first would have been logged by now; the later ones are held back within the interval.
    now += HANDSHAKE_FAILURE_LOG_INTERVAL_MS - 1
    await plainClient()
    now += 1
    const last = await plainClient()
    await until(() => failures().length === 2)
    expect(failures()[1]).toMatchObject({ obj: { remote: last, failuresNotLogged: 4 } })
  })
})

describe('WebSocket listener', () => {
  it('serves mqtt.js over ws:// on the configured path with subprotocol mqtt', async () => {
    const t = await s.start()
    const address = await t.server.listenWebSocket({ host: '127.0.0.1', port: 0, path: '/mqtt' })
    const url = `ws://127.0.0.1:${address.port}/mqtt`
    const sub = await s.client({ protocolVersion: 5 }, url)
    const pub = await s.client({ protocolVersion: 4 })
    await sub.subscribeAsync('ws/+', { qos: 2 })
    const got = nextMessage(sub)
    await pub.publishAsync('ws/a', 'over websocket', { qos: 2 })
    expect((await got).payload.toString()).toBe('over websocket')
  })

  it('a WebSocket frame larger than two maximum packets closes the connection before it is buffered', async () => {
    const t = await s.start({ maxPacketSize: 1024 })
    const address = await t.server.listenWebSocket({ host: '127.0.0.1', port: 0, path: '/mqtt' })
    const ws = new WebSocket(`ws://127.0.0.1:${address.port}/mqtt`, ['mqtt'])
    await new Promise((resolve, reject) => {
      ws.once('open', resolve)
      ws.once('error', reject)
    })
    const closed = new Promise<number>((resolve) => ws.once('close', resolve))
    ws.send(Buffer.alloc(4096))
    // 1009: message too big.
    expect(await closed).toBe(1009)
  })

  it('negotiates subprotocol mqtt (or mqttv3.1) and refuses another path', async () => {
    const t = await s.start()
    const address = await t.server.listenWebSocket({ host: '127.0.0.1', port: 0, path: '/mqtt' })
    const negotiated = (url: string, protocols: string[]) =>
      new Promise<string>((resolve, reject) => {
        const ws = new WebSocket(url, protocols)
        ws.once('open', () => {
          resolve(ws.protocol)
          ws.close()
        })
        ws.once('error', reject)
      })
    expect(await negotiated(`ws://127.0.0.1:${address.port}/mqtt`, ['mqtt'])).toBe('mqtt')
    expect(await negotiated(`ws://127.0.0.1:${address.port}/mqtt`, ['mqttv3.1'])).toBe('mqttv3.1')
    await expect(negotiated(`ws://127.0.0.1:${address.port}/other`, ['mqtt'])).rejects.toThrow(/404/)
  })

  it('answers plain HTTP with 426 Upgrade Required on the configured path and 404 on any other', async () => {
    const t = await s.start()
    const address = await t.server.listenWebSocket({ host: '127.0.0.1', port: 0, path: '/mqtt' })
    const status = async (path: string) => (await fetch(`http://127.0.0.1:${address.port}${path}`)).status
    expect(await status('/mqtt')).toBe(426)
    expect(await status('/mqtt?client=1')).toBe(426)
    expect(await status('/')).toBe(404)
    expect(await status('/mqtt/x')).toBe(404)
    expect(await status('/favicon.ico')).toBe(404)
  })
})

describe('mosquitto clients', () => {
  it('mosquitto_sub -V 5 receives what mosquitto_pub -V 5 -q 2 sends, and a retained message', async () => {
    const t = await s.start()
    const port = String(t.port)
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-V', '5', '-t', 'mosq/retained', '-m', 'kept', '-r', '-q', '1'])
    // -C 2: exit after two messages; -W: bounded wait.
    const sub = run('mosquitto_sub', ['-h', '127.0.0.1', '-p', port, '-V', '5', '-t', 'mosq/#', '-C', '2', '-W', '10', '-v', '-q', '2'])
    // Publish only once mosquitto_sub's subscription exists.
    await until(() => t.broker.stats.subscriptionsCurrent === 1, 5000)
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-V', '5', '-t', 'mosq/b', '-m', 'hi', '-q', '2'])
    const { stdout } = await sub
    expect(stdout.trim().split('\n')).toEqual(['mosq/retained kept', 'mosq/b hi'])
    // Their DISCONNECTs (Remaining Length 0) are normal disconnections, not bad input.
    await until(() => t.server.connectionCount === 0)
    expect(t.logger.lines.filter((l) => l.level === 'warn')).toEqual([])
  })

  for (const [flag, label] of [
    ['mqttv311', '3.1.1'],
    ['mqttv31', '3.1 (MQIsdp)'],
  ] as const) {
    it(`mosquitto_pub ${label} reaches an mqtt.js v5 subscriber`, async () => {
      const t = await s.start()
      const sub = await s.client({ protocolVersion: 5 })
      await sub.subscribeAsync('mosq/old', { qos: 1 })
      const got = nextMessage(sub)
      await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(t.port), '-V', flag, '-i', `old-${flag}`, '-t', 'mosq/old', '-m', `from ${label}`, '-q', '1'])
      expect((await got).payload.toString()).toBe(`from ${label}`)
    })
  }
})

describe('remoteAddressOf', () => {
  it('is "address:port" of the peer, undefined when the socket has no peer (already closed)', () => {
    expect(remoteAddressOf({ remoteAddress: '127.0.0.1', remotePort: 51234 })).toBe('127.0.0.1:51234')
    expect(remoteAddressOf({ remoteAddress: '::1', remotePort: 1883 })).toBe('::1:1883')
    expect(remoteAddressOf({ remoteAddress: undefined, remotePort: undefined })).toBeUndefined()
  })
})
