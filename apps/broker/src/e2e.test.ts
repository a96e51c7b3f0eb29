import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { LOOPBACK_ARGS, spawnFluxmq, startFluxmq } from '@fluxmq/testing'
import type { FluxmqProcess } from '@fluxmq/testing'
import { connect, connectAsync } from 'mqtt'
import type { IPublishPacket, MqttClient } from 'mqtt'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'

// Real processes on a shared 2-core machine (the whole suite may run at once): generous budgets.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 30_000 })

const dir = mkdtempSync(join(tmpdir(), 'fluxmq-e2e-'))
const processes: FluxmqProcess[] = []
const clients: MqttClient[] = []

/** The built command, as users run it. Tests run after `build` (turbo's test task depends on it). */
const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url))

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.endAsync(true)))
  await Promise.all(processes.splice(0).map((running) => running.stop('SIGKILL')))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** fluxmq with every listener on 127.0.0.1 port 0, `extra` arguments after those; the environment is PATH plus `env`. */
async function start(extra: string[] = [], env: Record<string, string> = {}): Promise<FluxmqProcess> {
  const { process: broker } = await startFluxmq({ bin: BIN, args: extra, env })
  processes.push(broker)
  return broker
}

function runFluxmq(args: readonly string[], options: { stdin?: string; env?: Record<string, string> } = {}): FluxmqProcess {
  const running = spawnFluxmq({ bin: BIN, args, ...options })
  processes.push(running)
  return running
}

async function client(url: string, options: Parameters<typeof connectAsync>[1] = {}): Promise<MqttClient> {
  const connected = await connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5_000, ...options })
  clients.push(connected)
  return connected
}

function nextMessage(subscriber: MqttClient): Promise<{ topic: string; payload: string; packet: IPublishPacket }> {
  return new Promise((resolve) => subscriber.once('message', (topic, payload, packet) => resolve({ topic, payload: payload.toString(), packet })))
}

describe('fluxmq end to end', () => {
  it('logs every bound port, serves MQTT 3.1.1 and 5.0 clients on one port, exits 0 on SIGTERM', async () => {
    const broker = await start()
    expect(broker.ports['mqtt-tcp']).toBeGreaterThan(0)
    expect(broker.ports['mqtt-websocket']).toBeGreaterThan(0)
    expect(broker.ports.http).toBeGreaterThan(0)
    const listening = broker.lines.filter((line) => typeof line.listener === 'string' && typeof line.port === 'number')
    expect(listening.map((line) => line.node)).toEqual(listening.map(() => broker.lines[0]?.node))

    const url = `mqtt://127.0.0.1:${broker.ports['mqtt-tcp']}`
    const v5 = await client(url, { protocolVersion: 5, clientId: 'sub-v5' })
    const v4 = await client(url, { protocolVersion: 4, clientId: 'pub-v4' })
    await v5.subscribeAsync('a/#', { qos: 2 })
    const received = nextMessage(v5)
    await v4.publishAsync('a/b', 'hi', { qos: 2 })
    const message = await received
    expect([message.topic, message.payload, message.packet.qos]).toEqual(['a/b', 'hi', 2])

    const goodbye = new Promise<number | undefined>((resolve) => v5.once('disconnect', (packet) => resolve(packet.reasonCode)))
    expect(await broker.stop()).toBe(0)
    expect(await goodbye).toBe(0x8b)
    expect(broker.lines.at(-1)?.msg).toBe('stopped')
  })

  it('works with mosquitto_sub and mosquitto_pub (MQTT 5, QoS 2)', async () => {
    const broker = await start()
    const port = String(broker.ports['mqtt-tcp'])
    const sub = spawn('mosquitto_sub', ['-V', '5', '-h', '127.0.0.1', '-p', port, '-t', 'a/#', '-C', '1', '-v', '-q', '2', '-W', '10'])
    let output = ''
    sub.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
    const exited = new Promise<number | null>((resolve) => sub.once('exit', resolve))
    // Publish until the subscriber has its subscription in place (it connects asynchronously).
    for (let attempt = 0; attempt < 50 && sub.exitCode === null; attempt++) {
      await new Promise<void>((resolve, reject) => {
        const pub = spawn('mosquitto_pub', ['-V', '5', '-h', '127.0.0.1', '-p', port, '-t', 'a/b', '-m', 'hi', '-q', '2'])
        pub.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`mosquitto_pub exited ${code}`))))
      })
      if (output !== '') break
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    expect(await exited).toBe(0)
    expect(output).toBe('a/b hi\n')
  })

  it('serves MQTT over WebSocket on /mqtt', async () => {
    const broker = await start()
    const ws = await client(`ws://127.0.0.1:${broker.ports['mqtt-websocket']}/mqtt`, { protocolVersion: 5 })
    await ws.subscribeAsync('w/1')
    const received = nextMessage(ws)
    await ws.publishAsync('w/1', 'over ws', { qos: 1 })
    expect((await received).payload).toBe('over ws')
  })

  it('serves MQTT over TLS from cert_file/key_file', async () => {
    const cert = join(dir, 'cert.pem')
    const key = join(dir, 'key.pem')
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert, '-days', '1'], { stdio: 'ignore' })
    const broker = await start(['--set', `server.mqtt.tls.cert_file=${cert}`, '--set', `server.mqtt.tls.key_file=${key}`, '--set', 'server.mqtt.tls.addr=127.0.0.1:0'])
    expect(broker.ports['mqtt-tls']).toBeGreaterThan(0)
    const secure = await client(`mqtts://127.0.0.1:${broker.ports['mqtt-tls']}`, { protocolVersion: 5, ca: readFileSync(cert) })
    await secure.subscribeAsync('s/1')
    const received = nextMessage(secure)
    await secure.publishAsync('s/1', 'over tls')
    expect((await received).payload).toBe('over tls')
  })

  it('stops with exit code 2 naming the key of a missing certificate file', async () => {
    const running = runFluxmq(['--set', `server.mqtt.tls.cert_file=${join(dir, 'none.pem')}`, '--set', `server.mqtt.tls.key_file=${join(dir, 'none.pem')}`])
    expect(await running.exited).toBe(2)
    expect(running.stderr).toMatch(/^fluxmq: server\.mqtt\.tls\.cert_file: cannot read /)
  })

  it('answers /health, /ready, /metrics and the admin API', async () => {
    const broker = await start()
    const base = `http://127.0.0.1:${broker.ports.http}`
    const mqttClient = await client(`mqtt://127.0.0.1:${broker.ports['mqtt-tcp']}`, { protocolVersion: 5, clientId: 'watcher', username: 'u1' })
    await mqttClient.subscribeAsync('t/+', { qos: 1 })

    expect((await fetch(`${base}/health`)).status).toBe(200)
    const ready = await fetch(`${base}/ready`)
    expect(ready.status).toBe(200)
    expect(((await ready.json()) as { checks: Record<string, unknown> }).checks).toEqual({
      'mqtt-tcp': { ok: true },
      'mqtt-websocket': { ok: true },
      http: { ok: true },
      storage: { ok: true },
    })
    const metrics = await (await fetch(`${base}/metrics`)).text()
    expect(metrics).toMatch(/^fluxmq_connections 1$/m)
    expect(metrics).toMatch(/^fluxmq_subscriptions 1$/m)
    expect(metrics).toMatch(/^process_resident_memory_bytes \d+/m)

    const sessions = (await (await fetch(`${base}/api/v1/sessions`)).json()) as { total: number; items: Array<Record<string, unknown>> }
    expect(sessions.total).toBe(1)
    expect(sessions.items[0]).toMatchObject({ clientId: 'watcher', username: 'u1', protocol: 'mqtt5', connected: true, subscriptions: 1 })
    const session = (await (await fetch(`${base}/api/v1/sessions/watcher`)).json()) as { subscriptions: unknown[] }
    expect(session.subscriptions).toEqual([{ filter: 't/+', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: null }])
    const subscriptions = (await (await fetch(`${base}/api/v1/subscriptions`)).json()) as { items: unknown[] }
    expect(subscriptions.items).toEqual([expect.objectContaining({ clientId: 'watcher', filter: 't/+' })])
    const nodes = (await (await fetch(`${base}/api/v1/nodes`)).json()) as Array<{ listeners: Record<string, string> }>
    expect(nodes[0]?.listeners['mqtt-tcp']).toBe(`127.0.0.1:${broker.ports['mqtt-tcp']}`)
    expect(await (await fetch(`${base}/api/v1/cluster`)).json()).toMatchObject({ enabled: false })
    expect(await (await fetch(`${base}/api/v1/queues`)).json()).toEqual([])
    expect((await fetch(`${base}/api/v1/queues/none`)).status).toBe(404)
    expect((await fetch(`${base}/api/v1/sessions?limit=x`)).status).toBe(400)
  })

  it('protects the admin API with server.http.token', async () => {
    const broker = await start(['--set', 'server.http.token=t0ken'])
    const base = `http://127.0.0.1:${broker.ports.http}`
    expect((await fetch(`${base}/api/v1/sessions`)).status).toBe(401)
    expect((await fetch(`${base}/api/v1/sessions`, { headers: { authorization: 'Bearer t0ken' } })).status).toBe(200)
  })

  it.each(['json', 'text'])('exits 0 on SIGTERM when the reader of stdout and stderr has gone (EPIPE), log.format %s', async (format) => {
    const broker = runFluxmq([...LOOPBACK_ARGS, '--set', `log.format=${format}`, '--set', 'server.shutdown_timeout=5s'])
    await broker.waitForLog((line) => line.msg.includes('fluxmq started'), 15_000)
    // `fluxmq | head`: head exits and every later write to either stream fails with EPIPE.
    broker.child.stdout?.destroy()
    broker.child.stderr?.destroy()
    expect(await broker.stop('SIGTERM', 10_000)).toBe(0)
  })

  it('stops with exit code 2 naming a FLUXMQ_* variable that names no key', async () => {
    const running = runFluxmq([], { env: { FLUXMQ_BROKER_MAX_QOSS: '1' } })
    expect(await running.exited).toBe(2)
    expect(running.stderr).toBe('fluxmq: environment variable FLUXMQ_BROKER_MAX_QOSS names no config key; did you mean FLUXMQ_BROKER_MAX_QOS? (FLUXMQ_* variables are configuration: unset it)\n')
  })

  it('exits 0 on SIGINT too', async () => {
    const broker = await start()
    expect(await broker.stop('SIGINT')).toBe(0)
  })

  it('takes settings from FLUXMQ_* environment variables', async () => {
    const broker = await start([], { FLUXMQ_BROKER_MAX_QOS: '1' })
    const v5 = await client(`mqtt://127.0.0.1:${broker.ports['mqtt-tcp']}`, { protocolVersion: 5 })
    const granted = await v5.subscribeAsync('q/#', { qos: 2 })
    expect(granted[0]?.qos).toBe(1)
  })

  it('stops with exit code 2 and one line naming the key for a bad config file', async () => {
    const file = join(dir, 'bad.yaml')
    writeFileSync(file, 'broker:\n  max_qos: 7\n')
    const running = runFluxmq(['--config', file])
    expect(await running.exited).toBe(2)
    expect(running.stderr).toBe(`fluxmq: invalid value for broker.max_qos: 7 (from ${file}); expected an integer from 0 to 2\n`)
    expect(running.lines).toEqual([])
  })

  it('stops with exit code 2 on cluster.raft.enabled: not in this build', async () => {
    const running = runFluxmq(['--set', 'cluster.enabled=true', '--set', 'cluster.node_id=n1', '--set', 'cluster.raft.enabled=true'])
    expect(await running.exited).toBe(2)
    expect(running.stderr).toContain('Raft replication is not available in this build yet')
  })

  it('stops with exit code 1 when a port is taken', async () => {
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    const port = (blocker.address() as AddressInfo).port
    try {
      const running = runFluxmq(['--set', `server.mqtt.tcp.addr=127.0.0.1:${port}`, '--set', 'server.mqtt.websocket.addr=', '--set', 'server.http.addr=', '--set', 'server.amqp.addr='])
      expect(await running.exited).toBe(1)
      expect(running.stderr).toContain('start-up failed')
      expect(running.lines.some((line) => line.level === 60 && line.msg === 'start-up failed')).toBe(true)
    } finally {
      await new Promise((resolve) => blocker.close(resolve))
    }
  })

  it('stops with exit code 1 when storage cannot open', async () => {
    const notADirectory = join(dir, 'plain-file')
    writeFileSync(notADirectory, 'x')
    const running = runFluxmq(['--set', 'storage.type=sqlite', '--set', `storage.dir=${notADirectory}`, '--set', 'server.mqtt.tcp.addr=127.0.0.1:0', '--set', 'server.mqtt.websocket.addr=', '--set', 'server.http.addr=', '--set', 'server.amqp.addr='])
    expect(await running.exited).toBe(1)
    expect(running.stderr).toMatch(/^fluxmq: start-up failed: .*plain-file/)
    expect(running.lines.find((line) => line.msg === 'start-up failed')).toMatchObject({ level: 60, err: { code: 'FLUXMQ_ERR_STORAGE_OPEN' } })
  })

  it('publishes the wills SIGTERM makes due to connected subscribers, then DISCONNECT 0x8B [MQTT-3.1.2-8]', async () => {
    const data = join(dir, 'sigterm-wills')
    const storageArgs = ['--set', 'storage.type=sqlite', '--set', `storage.dir=${data}`]
    let broker = await start(storageArgs)
    let url = `mqtt://127.0.0.1:${broker.ports['mqtt-tcp']}`
    const watcher = await client(url, { protocolVersion: 5, clientId: 'will-watcher' })
    await watcher.subscribeAsync('will/#', { qos: 1 })
    const will = (topic: string, delay: number) => ({ topic, payload: Buffer.from(topic), qos: 1 as const, retain: false, properties: { willDelayInterval: delay } })
    await client(url, { protocolVersion: 5, clientId: 'will-now', will: will('will/now', 0) })
    await client(url, { protocolVersion: 5, clientId: 'will-session-ends', will: will('will/session-ends', 30) })
    await client(url, { protocolVersion: 5, clientId: 'will-later', clean: false, properties: { sessionExpiryInterval: 3600 }, will: will('will/later', 60) })
    const events: string[] = []
    watcher.on('message', (topic) => events.push(topic))
    const disconnected = new Promise<void>((resolve) =>
      watcher.once('disconnect', (packet) => {
        events.push(`DISCONNECT ${packet.reasonCode}`)
        resolve()
      }),
    )
    broker.signal('SIGTERM')
    await disconnected
    expect(await broker.exited).toBe(0)
    expect(events.slice(0, 2).sort()).toEqual(['will/now', 'will/session-ends'])
    expect(events.slice(2)).toEqual(['DISCONNECT 139'])

    // The delayed will of the session that outlives the restart is still pending, not published.
    processes.splice(processes.indexOf(broker), 1)
    broker = await start(storageArgs)
    url = `mqtt://127.0.0.1:${broker.ports['mqtt-tcp']}`
    const session = (await (await fetch(`http://127.0.0.1:${broker.ports.http}/api/v1/sessions/will-later`)).json()) as { willPending: boolean; connected: boolean }
    expect(session).toMatchObject({ willPending: true, connected: false })
  })

  it('a retained message queued behind a full window keeps RETAIN=1 through a SQLite restart [MQTT-3.3.1-9]', async () => {
    const data = join(dir, 'sqlite-retained-queued')
    const storageArgs = ['--set', 'storage.type=sqlite', '--set', `storage.dir=${data}`]
    let broker = await start(storageArgs)
    let url = `mqtt://127.0.0.1:${broker.ports['mqtt-tcp']}`
    const publisher = await client(url, { protocolVersion: 5 })
    await publisher.publishAsync('r/1', 'kept', { qos: 1, retain: true })
    // Receive Maximum 1 and a delivery it never acknowledges: the retained message that the next
    // SUBSCRIBE sends has to wait in the session's queue, which SQLite stores.
    const holder = await client(url, {
      protocolVersion: 5,
      clientId: 'holder',
      clean: false,
      properties: { sessionExpiryInterval: 600, receiveMaximum: 1 },
      customHandleAcks: () => {},
    })
    await holder.subscribeAsync('t', { qos: 1 })
    await publisher.publishAsync('t', 'blocking', { qos: 1 })
    holder.subscribe('r/#', { qos: 1 })
    const admin = `http://127.0.0.1:${broker.ports.http}/api/v1/sessions/holder`
    await vi.waitFor(async () => expect(await (await fetch(admin)).json()).toMatchObject({ inflight: 1, queued: 1 }), { timeout: 10_000, interval: 50 })
    expect(await broker.stop('SIGKILL')).not.toBe(0)
    processes.splice(processes.indexOf(broker), 1)

    broker = await start(storageArgs)
    url = `mqtt://127.0.0.1:${broker.ports['mqtt-tcp']}`
    const received: Array<[string, boolean]> = []
    // connect(), not connectAsync: the queued messages may arrive in the same read as CONNACK.
    const resumed = connect(url, { protocolVersion: 5, clientId: 'holder', clean: false, properties: { sessionExpiryInterval: 600, receiveMaximum: 1 }, reconnectPeriod: 0 })
    clients.push(resumed)
    resumed.on('message', (topic, _payload, packet) => received.push([topic, packet.retain]))
    await vi.waitFor(() => expect(received).toEqual([['t', false], ['r/1', true]]), { timeout: 10_000, interval: 50 })
  })

  it('keeps retained messages across a restart with storage.type sqlite', async () => {
    const data = join(dir, 'sqlite-data')
    const storageArgs = ['--set', 'storage.type=sqlite', '--set', `storage.dir=${data}`]
    let broker = await start(storageArgs)
    const publisher = await client(`mqtt://127.0.0.1:${broker.ports['mqtt-tcp']}`, { protocolVersion: 5 })
    await publisher.publishAsync('kept/1', 'still here', { qos: 1, retain: true })
    await publisher.endAsync()
    expect(await broker.stop()).toBe(0)
    processes.splice(processes.indexOf(broker), 1)

    broker = await start(storageArgs)
    const subscriber = await client(`mqtt://127.0.0.1:${broker.ports['mqtt-tcp']}`, { protocolVersion: 5 })
    const received = nextMessage(subscriber)
    await subscriber.subscribeAsync('kept/#')
    const message = await received
    expect([message.topic, message.payload, message.packet.retain]).toEqual(['kept/1', 'still here', true])
  })
})

describe('fluxmq authentication and ACL end to end', () => {
  it('passwd writes users that the broker authenticates; the ACL limits their topics', async () => {
    const passwords = join(dir, 'passwd')
    const acl = join(dir, 'acl')
    for (const [user, password] of [
      ['alice', 'wonderland'],
      ['bob', 'builder'],
    ]) {
      const writer = runFluxmq(['passwd', passwords, user as string], { stdin: `${password}\n` })
      expect(await writer.exited).toBe(0)
    }
    writeFileSync(acl, 'user alice\ntopic readwrite home/#\ntopic deny home/vault\nuser bob\ntopic read home/+\n')
    const broker = await start(['--set', 'auth.allow_anonymous=false', '--set', `auth.password_file=${passwords}`, '--set', `auth.acl_file=${acl}`])
    const url = `mqtt://127.0.0.1:${broker.ports['mqtt-tcp']}`

    await expect(client(url, { protocolVersion: 5, username: 'alice', password: 'wrong' })).rejects.toMatchObject({ code: 0x86 })
    await expect(client(url, { protocolVersion: 5 })).rejects.toMatchObject({ code: 0x87 })
    await expect(client(url, { protocolVersion: 4, username: 'mallory', password: 'x' })).rejects.toMatchObject({ code: 4 })

    const alice = await client(url, { protocolVersion: 5, username: 'alice', password: 'wonderland' })
    const bob = await client(url, { protocolVersion: 5, username: 'bob', password: 'builder' })
    await expect(bob.subscribeAsync('home/#')).rejects.toThrow('Not authorized')
    expect((await bob.subscribeAsync('home/+'))[0]?.qos).toBe(0)
    const received = nextMessage(bob)
    await alice.publishAsync('home/kitchen', 'warm', { qos: 1 })
    expect((await received).payload).toBe('warm')
    await expect(alice.publishAsync('home/vault', 'gold', { qos: 1 })).rejects.toMatchObject({ code: 0x87 })
    await expect(bob.publishAsync('home/kitchen', 'x', { qos: 1 })).rejects.toMatchObject({ code: 0x87 })
  })

  it('SIGHUP reloads the password and ACL files; a broken file keeps the old ones', async () => {
    const passwords = join(dir, 'passwd-reload')
    const acl = join(dir, 'acl-reload')
    expect(await runFluxmq(['passwd', passwords, 'carol', '--password', 'one']).exited).toBe(0)
    writeFileSync(acl, 'user carol\ntopic read plant/#\n')
    const broker = await start(['--set', 'auth.allow_anonymous=false', '--set', `auth.password_file=${passwords}`, '--set', `auth.acl_file=${acl}`])
    const url = `mqtt://127.0.0.1:${broker.ports['mqtt-tcp']}`
    const carol = await client(url, { protocolVersion: 5, username: 'carol', password: 'one' })
    await expect(carol.publishAsync('plant/a', 'x', { qos: 1 })).rejects.toMatchObject({ code: 0x87 })

    expect(await runFluxmq(['passwd', passwords, 'dave', '--password', 'two']).exited).toBe(0)
    writeFileSync(acl, 'user carol\ntopic readwrite plant/#\n')
    broker.signal('SIGHUP')
    await broker.waitForLog('SIGHUP: reloaded auth.password_file, auth.acl_file')
    await client(url, { protocolVersion: 5, username: 'dave', password: 'two' })
    await carol.publishAsync('plant/a', 'x', { qos: 1 })

    writeFileSync(acl, 'user carol\nallow everything\n')
    expect(await runFluxmq(['passwd', passwords, 'dave', '--delete']).exited).toBe(0)
    broker.signal('SIGHUP')
    const failed = await broker.waitForLog('SIGHUP: reload failed, the previous auth files stay in force')
    expect((failed['err'] as { message: string }).message).toBe(`auth.acl_file: ${acl}:2: unknown keyword "allow" (expected user, topic or pattern)`)
    // Neither file was swapped in: dave (deleted from the password file) still gets in.
    await client(url, { protocolVersion: 5, username: 'dave', password: 'two' })
    await carol.publishAsync('plant/b', 'y', { qos: 1 })
    expect(broker.running).toBe(true)
  })

  it('stops with exit code 2 naming auth.acl_file for a malformed ACL', async () => {
    const acl = join(dir, 'bad-acl')
    writeFileSync(acl, 'topic read a\nallow everything\n')
    const running = runFluxmq(['--set', `auth.acl_file=${acl}`, '--set', 'server.http.addr=127.0.0.1:0', '--set', 'server.mqtt.tcp.addr=127.0.0.1:0', '--set', 'server.mqtt.websocket.addr=', '--set', 'server.amqp.addr='])
    expect(await running.exited).toBe(2)
    expect(running.stderr).toBe(`fluxmq: auth.acl_file: ${acl}:2: unknown keyword "allow" (expected user, topic or pattern)\n`)
  })
})
