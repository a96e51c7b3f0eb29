import { execFile } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { hashPassword } from '@fluxmq/broker'
import { makeSelfSignedCertificate, metricValue, setArgs, withTimeout } from '@fluxmq/testing'
import type { ReceivedMessage, StartedFluxmq } from '@fluxmq/testing'
import rhea from 'rhea'
import type { Connection, ConnectionOptions, Delivery, EventContext, Message, Receiver, ReceiverOptions, Sender, SenderOptions } from 'rhea'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FLUXMQ_BIN, Scene } from './support/fluxmq.js'

// Issue 12: AMQP 1.0 clients (rhea) and MQTT clients (mqtt.js) on one real `fluxmq` process.

const run = promisify(execFile)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A rhea connection to the broker, open; closed by the scene's cleanup. Rejects with the error that refused it. */
function amqpConnect(scene: Scene, port: number, options: Partial<ConnectionOptions> = {}): Promise<Connection> {
  const c = rhea.create_container().connect({ host: '127.0.0.1', port, reconnect: false, tcp_no_delay: true, ...options } as unknown as ConnectionOptions)
  scene.cleanup.defer(() => {
    if (!c.is_closed()) c.close()
  })
  return withTimeout(
    new Promise((resolve, reject) => {
      c.once('connection_open', () => resolve(c))
      c.once('connection_error', (context: EventContext) => reject(context.error ?? context.connection.error))
      c.once('disconnected', (context: EventContext) => reject(context.error ?? new Error('disconnected before open')))
    }),
    10_000,
    'AMQP connection open',
  )
}

/** The link's AMQP error as an Error (withTimeout passes Errors through as they are). */
function linkError(link: Sender | Receiver): Error {
  const error = (link.error ?? {}) as { condition?: string; description?: string }
  return Object.assign(new Error(error.description ?? 'link closed'), { condition: error.condition })
}

/** Resolves once the broker attached the link; rejects with the condition of a refused attach. */
function attached<T extends Sender | Receiver>(link: T): Promise<T> {
  const prefix = link.is_receiver() ? 'receiver' : 'sender'
  return withTimeout(
    new Promise((resolve, reject) => {
      link.once(`${prefix}_open`, () => setImmediate(() => (link.is_closed() || link.error !== undefined ? reject(linkError(link)) : resolve(link))))
      link.once(`${prefix}_error`, () => reject(linkError(link)))
    }),
    10_000,
    'AMQP link attached',
  )
}

const openReceiver = (c: Connection, options: ReceiverOptions) => attached(c.open_receiver(options))
const openSender = (c: Connection, options: SenderOptions) => attached(c.open_sender(options))

/** The messages (and their deliveries) a receiver got. */
class Inbox {
  readonly items: { message: Message; delivery: Delivery }[] = []
  constructor(receiver: Receiver) {
    receiver.on('message', (context: EventContext) => {
      if (context.message !== undefined && context.delivery !== undefined) this.items.push({ message: context.message, delivery: context.delivery })
    })
  }
  async waitForCount(count: number, timeoutMs = 10_000): Promise<{ message: Message; delivery: Delivery }[]> {
    await withTimeout(
      (async () => {
        while (this.items.length < count) await sleep(10)
      })(),
      timeoutMs,
      `${count} AMQP messages (have ${this.items.length})`,
    )
    return this.items.slice(0, count)
  }
}

/** The outcome the broker gave one transfer, and its error. */
function sendSettled(sender: Sender, message: Message): Promise<{ outcome: string; error?: { condition?: string } }> {
  return withTimeout(
    new Promise((resolve) => {
      const id = sender.send(message).id
      const listeners = (['accepted', 'rejected', 'released', 'modified'] as const).map((outcome) => {
        const listener = (context: EventContext) => {
          if (context.delivery?.id !== id) return
          for (const [event, l] of listeners) sender.off(event, l)
          resolve({ outcome, error: (context.delivery.remote_state as { error?: { condition?: string } } | undefined)?.error })
        }
        return [outcome, listener] as const
      })
      for (const [event, listener] of listeners) sender.on(event, listener)
    }),
    10_000,
    'transfer settled',
  )
}

const body = (m: Message): string => (Buffer.isBuffer(m.body?.content) ? (m.body.content as Buffer).toString() : String(m.body))
const prop = (m: ReceivedMessage, name: string): unknown => m.packet.properties?.userProperties?.[name]

describe('AMQP 1.0 and MQTT on one broker', () => {
  const scene = new Scene()
  let fluxmq: StartedFluxmq
  let amqpPort: number

  beforeAll(async () => {
    fluxmq = await scene.broker(setArgs({ 'server.amqp.addr': '127.0.0.1:0', queues: '[{name: dl-amqp, max_deliveries: 5}]' }))
    amqpPort = fluxmq.process.port('amqp') as number
  })
  afterAll(() => scene.cleanup.run())

  it('MQTT 5 publish -> AMQP receiver, with content-type, correlation, response topic and user properties', async () => {
    const c = await amqpConnect(scene, amqpPort)
    const receiver = await openReceiver(c, { source: { address: 'x/+/in' }, credit_window: 10 })
    const inbox = new Inbox(receiver)
    const pub = await scene.client(fluxmq.mqttUrl, { protocolVersion: 5 })
    await pub.client.publishAsync('x/mqtt/in', 'from mqtt', {
      qos: 1,
      properties: { contentType: 'text/plain', correlationData: Buffer.from('corr-1'), responseTopic: 'x/replies', userProperties: { k: 'v', n: '1' }, messageExpiryInterval: 60 },
    })
    const [{ message } = { message: {} as Message }] = await inbox.waitForCount(1)
    expect(body(message)).toBe('from mqtt')
    expect(message).toMatchObject({ content_type: 'text/plain', correlation_id: 'corr-1', reply_to: 'x/replies', application_properties: { k: 'v', n: '1' } })
    expect(message.ttl).toBeGreaterThan(50_000)
    expect(message.ttl).toBeLessThanOrEqual(60_000)
  })

  it('AMQP send -> MQTT 3.1.1 and 5.0 subscribers, properties preserved for 5.0', async () => {
    const v3 = await scene.client(fluxmq.mqttUrl, { protocolVersion: 4 })
    const v5 = await scene.client(fluxmq.mqttUrl, { protocolVersion: 5 })
    await v3.client.subscribeAsync('y/#', { qos: 1 })
    await v5.client.subscribeAsync('y/#', { qos: 1 })
    const c = await amqpConnect(scene, amqpPort)
    const sender = await openSender(c, { target: { address: 'y/out' } })
    const sent = await sendSettled(sender, {
      body: rhea.message.data_section(Buffer.from('from amqp')),
      content_type: 'application/octet-stream',
      correlation_id: 'corr-2',
      reply_to: 'y/replies',
      subject: 'hello',
      application_properties: { a: 'b' },
    })
    expect(sent.outcome).toBe('accepted')
    const [m3] = await v3.inbox.waitForCount(1)
    expect(m3?.payload.toString()).toBe('from amqp')
    expect(m3?.packet.qos).toBe(1)
    const [m5] = await v5.inbox.waitForCount(1)
    expect(m5?.payload.toString()).toBe('from amqp')
    expect(m5?.packet.properties).toMatchObject({ contentType: 'application/octet-stream', responseTopic: 'y/replies', correlationData: Buffer.from('corr-2') })
    expect(prop(m5!, 'a')).toBe('b')
    expect(prop(m5!, 'amqp-subject')).toBe('hello')
  })

  it('AMQP -> queue -> MQTT consumer in a group, and MQTT -> queue -> AMQP consumer in a group', async () => {
    const c = await amqpConnect(scene, amqpPort)
    const mqttConsumer = await scene.client(fluxmq.mqttUrl, { clientId: 'q-mqtt', protocolVersion: 5 })
    await mqttConsumer.client.subscribeAsync('$queue/jobs-in', { qos: 1, properties: { userProperties: { 'consumer-group': 'workers' } } })
    const sender = await openSender(c, { target: { address: '$queue/jobs-in' } })
    expect((await sendSettled(sender, { body: 'job-1', application_properties: { prio: 'high' } })).outcome).toBe('accepted')
    const [job] = await mqttConsumer.inbox.waitForCount(1)
    expect(job?.payload.toString()).toBe('job-1')
    expect(prop(job!, 'prio')).toBe('high')
    expect(prop(job!, 'group-id')).toBe('workers')

    const receiver = await openReceiver(c, { source: { address: '$queue/jobs-out' }, properties: { 'consumer-group': 'amqp-workers' }, credit_window: 10, autoaccept: false })
    const inbox = new Inbox(receiver)
    const pub = await scene.client(fluxmq.mqttUrl, { protocolVersion: 5 })
    await pub.client.publishAsync('$queue/jobs-out', 'job-2', { qos: 1, properties: { contentType: 'text/plain', userProperties: { k: 'v' } } })
    const [{ message, delivery } = {} as { message: Message; delivery: Delivery }] = await inbox.waitForCount(1)
    expect(body(message)).toBe('job-2')
    expect(message.content_type).toBe('text/plain')
    expect(message.application_properties).toMatchObject({ k: 'v', 'group-id': 'amqp-workers', queue: 'jobs-out', 'delivery-count': '1' })
    delivery.accept()
    const stats = await withTimeout(
      (async () => {
        for (;;) {
          const q = (await (await fetch(`${fluxmq.httpUrl}/api/v1/queues/jobs-out`)).json()) as { pending: number; counters: { acks: number } }
          if (q.counters.acks === 1) return q
          await sleep(20)
        }
      })(),
      10_000,
      'the disposition acknowledged the queue message',
    )
    expect(stats.pending).toBe(0)
  })

  it('queue dispositions: released comes back with its delivery count unchanged, modified with a higher one, rejected goes to the DLQ', async () => {
    const c = await amqpConnect(scene, amqpPort)
    const receiver = await openReceiver(c, { source: { address: '$queue/dl-amqp' }, properties: { 'consumer-group': 'g' }, credit_window: 10, autoaccept: false })
    const inbox = new Inbox(receiver)
    const dlq = await scene.client(fluxmq.mqttUrl, { clientId: 'dlq-reader', protocolVersion: 5 })
    await dlq.client.subscribeAsync('$dlq/dl-amqp', { qos: 1 })
    const sender = await openSender(c, { target: { address: '$queue/dl-amqp' } })
    expect((await sendSettled(sender, { body: 'bad' })).outcome).toBe('accepted')
    const [first] = await inbox.waitForCount(1)
    first!.delivery.release()
    const count = (item: typeof first): number => Number(item!.message.application_properties?.['delivery-count'])
    const [, second] = await inbox.waitForCount(2, 15_000)
    expect(body(second!.message)).toBe('bad')
    // [SPEC §5] released = back without counting; modified(delivery-failed) = a counted nack.
    expect(count(second)).toBe(count(first))
    second!.delivery.modified({ delivery_failed: true })
    const [, , third] = await inbox.waitForCount(3, 15_000)
    expect(count(third)).toBe(count(second) + 1)
    third!.delivery.reject({ condition: 'amqp:internal-error', description: 'poison' })
    const [dead] = await dlq.inbox.waitForCount(1)
    expect(dead?.payload.toString()).toBe('bad')
  })

  it('a receiver without credit loses nothing: messages wait, then arrive in order', async () => {
    const c = await amqpConnect(scene, amqpPort)
    const receiver = await openReceiver(c, { source: { address: 'nocredit/t' }, credit_window: 0 })
    const inbox = new Inbox(receiver)
    const pub = await scene.client(fluxmq.mqttUrl, { protocolVersion: 5 })
    const sent = Array.from({ length: 50 }, (_, i) => `n${i}`)
    for (const text of sent) await pub.client.publishAsync('nocredit/t', text, { qos: 1 })
    await sleep(200)
    expect(inbox.items).toHaveLength(0)
    receiver.add_credit(50)
    expect((await inbox.waitForCount(50)).map((i) => body(i.message))).toEqual(sent)
  })

  it('a 100k unsettled AMQP stream completes without stalling', async () => {
    const c = await amqpConnect(scene, amqpPort)
    const receiver = await openReceiver(c, { source: { address: 'stream/100k' }, credit_window: 1000 })
    let received = 0
    receiver.on('message', () => received++)
    const sender = await openSender(c, { target: { address: 'stream/100k' } })
    const total = 100_000
    let sent = 0
    let accepted = 0
    await withTimeout(
      new Promise<void>((resolve) => {
        const pump = (): void => {
          while (sent < total && sender.sendable()) sender.send({ body: `m${sent++}` })
        }
        sender.on('sendable', pump)
        sender.on('accepted', () => {
          if (++accepted === total) resolve()
        })
        pump()
      }),
      240_000,
      `100k accepted (have ${accepted})`,
    )
    await withTimeout(
      (async () => {
        while (received < total) await sleep(20)
      })(),
      60_000,
      '100k received',
    )
    expect(received).toBe(total)
  }, 320_000)

  it('AMQP connections and links in /metrics, /api/v1/amqp and fluxmq ctl amqp', async () => {
    const c = await amqpConnect(scene, amqpPort, { container_id: 'ctl-app' })
    await openReceiver(c, { name: 'watch', source: { address: 'ctl/#' } })
    await openSender(c, { name: 'feed', target: { address: 'ctl/t' } })
    const metrics = await (await fetch(`${fluxmq.httpUrl}/metrics`)).text()
    expect(metricValue(metrics, 'fluxmq_amqp_connections')).toBeGreaterThanOrEqual(1)
    expect(metricValue(metrics, 'fluxmq_amqp_links', '{direction="out"}')).toBeGreaterThanOrEqual(1)
    expect(metricValue(metrics, 'fluxmq_amqp_links', '{direction="in"}')).toBeGreaterThanOrEqual(1)
    const api = (await (await fetch(`${fluxmq.httpUrl}/api/v1/amqp`)).json()) as { container: string; links: { name: string; direction: string; address: string; clientId: string }[] }[]
    const mine = api.find((conn) => conn.container === 'ctl-app')
    expect(mine?.links).toEqual(
      expect.arrayContaining([
        { clientId: 'ctl-app/out/watch', container: 'ctl-app', name: 'watch', direction: 'out', address: 'ctl/#' },
        { clientId: 'ctl-app/in/feed', container: 'ctl-app', name: 'feed', direction: 'in', address: 'ctl/t' },
      ]),
    )
    const session = (await (await fetch(`${fluxmq.httpUrl}/api/v1/sessions/${encodeURIComponent('ctl-app/out/watch')}`)).json()) as { protocol: string }
    expect(session.protocol).toBe('amqp')
    const { stdout } = await run(process.execPath, [FLUXMQ_BIN, 'ctl', '--url', fluxmq.httpUrl, 'amqp'])
    expect(stdout).toMatch(/ctl-app .* watch +out \(receives\) +ctl\/#/)
  })
})

describe('AMQP authentication, ACL and AMQPS', () => {
  const scene = new Scene()
  let fluxmq: StartedFluxmq
  let certFile: string

  beforeAll(async () => {
    const dir = scene.tempDir()
    const passwords = join(dir, 'passwd')
    writeFileSync(passwords, `alice:${await hashPassword(Buffer.from('secret'))}\n`)
    const acl = join(dir, 'acl')
    writeFileSync(acl, 'user alice\ntopic readwrite alice/#\n')
    const certificate = await makeSelfSignedCertificate(dir)
    certFile = certificate.certFile
    fluxmq = await scene.broker(
      setArgs({
        'server.amqp.addr': '127.0.0.1:0',
        'server.amqp.tls_addr': '127.0.0.1:0',
        'server.mqtt.tls.cert_file': certificate.certFile,
        'server.mqtt.tls.key_file': certificate.keyFile,
        'server.mqtt.tls.addr': '127.0.0.1:0',
        'auth.allow_anonymous': 'false',
        'auth.password_file': passwords,
        'auth.acl_file': acl,
      }),
    )
  })
  afterAll(() => scene.cleanup.run())

  const port = () => fluxmq.process.port('amqp') as number

  it('SASL PLAIN with the password file: the right password opens, a wrong one and anonymous get amqp:unauthorized-access', async () => {
    const c = await amqpConnect(scene, port(), { username: 'alice', password: 'secret' })
    expect(c.is_open()).toBe(true)
    await expect(amqpConnect(scene, port(), { username: 'alice', password: 'nope' })).rejects.toMatchObject({ condition: 'amqp:unauthorized-access' })
    await expect(amqpConnect(scene, port(), { username: 'anonymous' })).rejects.toMatchObject({ condition: 'amqp:unauthorized-access' })
    await expect(amqpConnect(scene, port())).rejects.toBeDefined()
  })

  it('the ACL file: a denied filter and a denied topic detach the link with amqp:unauthorized-access; allowed ones work', async () => {
    const c = await amqpConnect(scene, port(), { username: 'alice', password: 'secret' })
    await expect(openReceiver(c, { source: { address: 'bob/#' } })).rejects.toMatchObject({ condition: 'amqp:unauthorized-access' })
    const denied = await openSender(c, { target: { address: 'bob/x' } })
    const refused = await sendSettled(denied, { body: 'x' })
    expect(refused).toMatchObject({ outcome: 'rejected', error: { condition: 'amqp:unauthorized-access' } })
    const receiver = await openReceiver(c, { source: { address: 'alice/#' }, credit_window: 10 })
    const inbox = new Inbox(receiver)
    const sender = await openSender(c, { target: { address: 'alice/x' } })
    expect((await sendSettled(sender, { body: 'mine' })).outcome).toBe('accepted')
    expect(body((await inbox.waitForCount(1))[0]!.message)).toBe('mine')
  })

  it('AMQPS with the MQTT TLS certificate', async () => {
    const c = await amqpConnect(scene, fluxmq.process.port('amqps') as number, {
      transport: 'tls',
      host: '127.0.0.1',
      ca: readFileSync(certFile),
      servername: 'localhost',
      username: 'alice',
      password: 'secret',
    } as Partial<ConnectionOptions>)
    const receiver = await openReceiver(c, { source: { address: 'alice/tls' }, credit_window: 10 })
    const inbox = new Inbox(receiver)
    const mqtts = await scene.client(`mqtts://127.0.0.1:${fluxmq.process.port('mqtt-tls')}`, { ca: readFileSync(certFile), servername: 'localhost', username: 'alice', password: 'secret', protocolVersion: 5 })
    await mqtts.client.publishAsync('alice/tls', 'over tls', { qos: 1 })
    expect(body((await inbox.waitForCount(1))[0]!.message)).toBe('over tls')
  })
})

describe('AMQP and shutdown', () => {
  const scene = new Scene()
  afterAll(() => scene.cleanup.run())

  it('SIGTERM closes AMQP connections with amqp:connection:forced and exits 0', async () => {
    const fluxmq = await scene.broker(setArgs({ 'server.amqp.addr': '127.0.0.1:0' }))
    const c = await amqpConnect(scene, fluxmq.process.port('amqp') as number)
    await openReceiver(c, { source: { address: 'bye/#' } })
    const closed = new Promise((resolve) => c.once('connection_error', (context: EventContext) => resolve((context.connection.error as { condition?: string } | undefined)?.condition)))
    const exited = fluxmq.process.stop('SIGTERM')
    expect(await withTimeout(closed, 10_000, 'CLOSE from the broker')).toBe('amqp:connection:forced')
    expect(await exited).toBe(0)
  })
})
