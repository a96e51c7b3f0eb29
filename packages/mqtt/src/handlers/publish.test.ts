import { ReasonCode } from '@fluxmq/mqtt-codec'
import { encode } from '@fluxmq/mqtt-codec'
import { describe, expect, it } from 'vitest'
import { nextMessage, testScope } from '../test-support/harness.js'

const s = testScope()
const publish = (topic: string, qos: 0 | 1 | 2, extra: Record<string, unknown> = {}) =>
  ({ cmd: 'publish', topic, payload: Buffer.from('x'), qos, retain: false, dup: false, ...(qos > 0 ? { messageId: 1 } : {}), ...extra }) as const

describe('PUBLISH from a client', () => {
  it('[MQTT-4.7.3-1] an empty topic without a topic alias: DISCONNECT 0x82 (v5)', async () => {
    const { port } = await s.start()
    const r = await s.raw(port, 5)
    // PUBLISH QoS 0, topic length 0, property length 0, payload "x" (mqtt-packet will not encode it).
    r.sendBytes([0x30, 0x04, 0x00, 0x00, 0x00, 0x78])
    expect(await r.next()).toMatchObject({ cmd: 'disconnect', reasonCode: ReasonCode.ProtocolError })
  })

  it('[MQTT-3.3.2-2] a topic name with wildcards: DISCONNECT 0x90 (v5), closed (3.1.1), logged', async () => {
    const { port, logger } = await s.start()
    const r5 = await s.raw(port, 5, { clientId: 'wild5' })
    r5.send(publish('a/+/c', 0))
    expect(await r5.next()).toMatchObject({ cmd: 'disconnect', reasonCode: ReasonCode.TopicNameInvalid })
    await r5.closedByServer()
    const r4 = await s.raw(port, 4)
    r4.send(publish('a/#', 1))
    await r4.closedByServer()
    expect(r4.packets).toEqual([])
    expect(logger.lines.find((l) => l.level === 'warn' && l.obj['clientId'] === 'wild5')?.obj).toMatchObject({ remote: expect.any(String), reason: expect.any(String), reasonCode: ReasonCode.TopicNameInvalid })
  })

  /** A PUBLISH the server must answer with DISCONNECT `reason` (v5), under the given server options. */
  const refused: [name: string, options: Parameters<typeof s.start>[0], packet: ReturnType<typeof publish>, reason: ReasonCode][] = [
    ['[MQTT-3.2.2-11] QoS above Maximum QoS: DISCONNECT 0x9B', { maxQos: 1 }, publish('t', 2), ReasonCode.QoSNotSupported],
    ['[MQTT-3.2.2-14] RETAIN without Retain Available: DISCONNECT 0x9A', { retainAvailable: false }, publish('t', 0, { retain: true }), ReasonCode.RetainNotSupported],
    ['[MQTT-3.3.4-6] a subscription identifier from a client: DISCONNECT 0x82', {}, publish('t', 0, { properties: { subscriptionIdentifier: 3 } }), ReasonCode.ProtocolError],
    ['[MQTT-3.3.2-8] topic alias 0: DISCONNECT 0x94', {}, publish('t', 0, { properties: { topicAlias: 0 } }), ReasonCode.TopicAliasInvalid],
    ['[MQTT-3.3.2-9] topic alias above our Topic Alias Maximum: DISCONNECT 0x94', { topicAliasMaximum: 2 }, publish('t', 0, { properties: { topicAlias: 3 } }), ReasonCode.TopicAliasInvalid],
    ['empty topic with an alias that was never set: DISCONNECT 0x82 (§3.3.4)', {}, publish('', 0, { properties: { topicAlias: 1 } }), ReasonCode.ProtocolError],
  ]
  for (const [name, options, packet, reason] of refused) {
    it(name, async () => {
      const { port } = await s.start(options)
      const r = await s.raw(port, 5)
      r.send(packet)
      expect(await r.next()).toMatchObject({ cmd: 'disconnect', reasonCode: reason })
    })
  }

  it('[MQTT-3.3.2-12] topic aliases in: set once, then alias-only publishes reach subscribers', async () => {
    const t = await s.start({ topicAliasMaximum: 4 })
    const sub = await s.client({ protocolVersion: 5 })
    await sub.subscribeAsync('alias/t', { qos: 0 })
    const r = await s.raw(t.port, 5)
    const first = nextMessage(sub)
    r.send(publish('alias/t', 0, { payload: Buffer.from('1'), properties: { topicAlias: 4 } }))
    expect((await first).payload.toString()).toBe('1')
    const second = nextMessage(sub)
    r.send(publish('', 0, { payload: Buffer.from('2'), properties: { topicAlias: 4 } }))
    const got = await second
    expect([got.topic, got.payload.toString()]).toEqual(['alias/t', '2'])
  })

  it('[MQTT-3.3.4-7] more unacknowledged QoS 1/2 PUBLISHes than Receive Maximum: DISCONNECT 0x93', async () => {
    // Each QoS 2 PUBLISH stays unacknowledged (counted) until the client's PUBREL is answered.
    const { port } = await s.start({ receiveMaximum: 2 })
    const r = await s.raw(port, 5)
    r.send(publish('t', 2, { messageId: 1 }))
    r.send(publish('t', 2, { messageId: 2 }))
    expect(await r.next()).toMatchObject({ cmd: 'pubrec', messageId: 1 })
    expect(await r.next()).toMatchObject({ cmd: 'pubrec', messageId: 2 })
    r.send(publish('t', 2, { messageId: 3 }))
    expect(await r.next()).toMatchObject({ cmd: 'disconnect', reasonCode: ReasonCode.ReceiveMaximumExceeded })
  })

  it('[MQTT-3.3.4-7] a QoS 2 burst past Receive Maximum in one write: every PUBREC earned, then DISCONNECT 0x93', async () => {
    const { port } = await s.start({ receiveMaximum: 2 })
    const r = await s.raw(port, 5)
    r.sendBytes(Buffer.concat([1, 2, 3].map((id) => encode(publish('t', 2, { messageId: id }), 5))))
    expect(await r.next()).toMatchObject({ cmd: 'pubrec', messageId: 1 })
    expect(await r.next()).toMatchObject({ cmd: 'pubrec', messageId: 2 })
    expect(await r.next()).toMatchObject({ cmd: 'disconnect', reasonCode: ReasonCode.ReceiveMaximumExceeded })
  })

  it('[MQTT-3.3.4-7] QoS 1 past Receive Maximum while PUBACKs wait for storage: reading pauses, every PUBLISH is acknowledged, no 0x93', async () => {
    // A persistent offline subscriber makes every publish a storage write, so PUBACKs wait for it.
    const { port } = await s.start({ receiveMaximum: 2 })
    const sub = await s.raw(port, 5, { clientId: 'offline-sub', clean: false, properties: { sessionExpiryInterval: 60 } })
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 't', qos: 1 }] })
    expect(await sub.next()).toMatchObject({ cmd: 'suback' })
    sub.close()
    const r = await s.raw(port, 5)
    const ids = Array.from({ length: 20 }, (_, i) => i + 1)
    r.sendBytes(Buffer.concat(ids.map((id) => encode(publish('t', 1, { messageId: id }), 5))))
    const acked: number[] = []
    for (const _ of ids) {
      const packet = await r.next()
      expect(packet).toMatchObject({ cmd: 'puback', reasonCode: ReasonCode.Success })
      acked.push((packet as { messageId: number }).messageId)
    }
    expect(acked).toEqual(ids)
  })

  it('[MQTT-3.3.4-7] a resent QoS 2 PUBLISH with the same id is not counted twice, PUBCOMP frees the slot', async () => {
    const { port } = await s.start({ receiveMaximum: 1 })
    const r = await s.raw(port, 5)
    r.send(publish('t', 2, { messageId: 1 }))
    r.send(publish('t', 2, { messageId: 1, dup: true }))
    expect(await r.next()).toMatchObject({ cmd: 'pubrec', messageId: 1 })
    expect(await r.next()).toMatchObject({ cmd: 'pubrec', messageId: 1 })
    r.send({ cmd: 'pubrel', messageId: 1 })
    expect(await r.next()).toMatchObject({ cmd: 'pubcomp', messageId: 1 })
    r.send(publish('t', 2, { messageId: 2 }))
    expect(await r.next()).toMatchObject({ cmd: 'pubrec', messageId: 2 })
  })

  it('[MQTT-4.3.3-10] a duplicate QoS 2 PUBLISH before PUBREL is not delivered twice', async () => {
    const t = await s.start()
    const sub = await s.client({ protocolVersion: 5 })
    await sub.subscribeAsync('dup/t', { qos: 2 })
    const seen: string[] = []
    sub.on('message', (_topic, payload) => seen.push(payload.toString()))
    const r = await s.raw(t.port, 5)
    r.send(publish('dup/t', 2, { messageId: 9, payload: Buffer.from('once') }))
    r.send(publish('dup/t', 2, { messageId: 9, payload: Buffer.from('once'), dup: true }))
    await r.next()
    await r.next()
    r.send({ cmd: 'pubrel', messageId: 9 })
    expect(await r.next()).toMatchObject({ cmd: 'pubcomp', messageId: 9, reasonCode: 0 })
    // A marker published after the duplicate proves the duplicate had its chance to arrive.
    const marker = new Promise<void>((resolve) => sub.on('message', (topic) => topic === 'dup/t' && seen.length >= 2 && resolve()))
    await (await s.client({ protocolVersion: 5 })).publishAsync('dup/t', 'marker', { qos: 2 })
    await marker
    expect(seen).toEqual(['once', 'marker'])
  })

  it('PUBREL for an unknown packet id: PUBCOMP 0x92 (v5), plain PUBCOMP (3.1.1)', async () => {
    const { port } = await s.start()
    const r5 = await s.raw(port, 5)
    r5.send({ cmd: 'pubrel', messageId: 77 })
    expect(await r5.next()).toMatchObject({ cmd: 'pubcomp', messageId: 77, reasonCode: ReasonCode.PacketIdentifierNotFound })
    const r4 = await s.raw(port, 4)
    r4.send({ cmd: 'pubrel', messageId: 77 })
    expect(await r4.next()).toMatchObject({ cmd: 'pubcomp', messageId: 77 })
  })

  it('[MQTT-4.3.3-11] [MQTT-4.4.0-1] a PUBREL resent on a resumed session after its PUBCOMP was lost: PUBCOMP 0x00, not 0x92', async () => {
    const { port } = await s.start()
    const persistent = { clientId: 'resend-pubrel', clean: false, properties: { sessionExpiryInterval: 60 } }
    const first = await s.raw(port, 5, persistent)
    first.send(publish('resend/t', 2, { messageId: 3 }))
    expect(await first.next()).toMatchObject({ cmd: 'pubrec', messageId: 3 })
    first.send({ cmd: 'pubrel', messageId: 3 })
    expect(await first.next()).toMatchObject({ cmd: 'pubcomp', messageId: 3, reasonCode: 0 })
    // As if that PUBCOMP had died with the connection: the client resends its PUBREL on the next one.
    first.close()
    const { raw: again, connack } = await s.connect(port, 5, persistent)
    expect(connack).toMatchObject({ sessionPresent: true })
    again.send({ cmd: 'pubrel', messageId: 3 })
    expect(await again.next()).toMatchObject({ cmd: 'pubcomp', messageId: 3, reasonCode: 0 })
    again.send({ cmd: 'pubrel', messageId: 4 })
    expect(await again.next()).toMatchObject({ cmd: 'pubcomp', messageId: 4, reasonCode: ReasonCode.PacketIdentifierNotFound })
  })

  it('QoS 1 without subscribers: PUBACK 0x10 (v5), plain PUBACK (3.1.1)', async () => {
    const { port } = await s.start()
    const r5 = await s.raw(port, 5)
    r5.send(publish('nobody/home', 1, { messageId: 5 }))
    expect(await r5.next()).toMatchObject({ cmd: 'puback', messageId: 5, reasonCode: ReasonCode.NoMatchingSubscribers })
    const r4 = await s.raw(port, 4)
    r4.send(publish('nobody/home', 1, { messageId: 6 }))
    const ack = await r4.next()
    expect(ack).toMatchObject({ cmd: 'puback', messageId: 6 })
    expect(ack.length).toBe(2)
  })

  it('not authorized: PUBACK 0x87 / PUBREC 0x87 (v5); 3.1.1 gets a plain PUBACK and the message is dropped [MQTT-3.3.5-2]', async () => {
    const authorizer = { canPublish: (_c: unknown, topic: string) => !topic.startsWith('secret/'), canSubscribe: () => true }
    const { port } = await s.start({}, { authorizer })
    const sub = await s.client({ protocolVersion: 5 })
    await sub.subscribeAsync('secret/#', { qos: 1 })
    const seen: string[] = []
    sub.on('message', (topic) => seen.push(topic))
    const r5 = await s.raw(port, 5)
    r5.send(publish('secret/a', 1, { messageId: 1 }))
    expect(await r5.next()).toMatchObject({ cmd: 'puback', reasonCode: ReasonCode.NotAuthorized })
    r5.send(publish('secret/a', 2, { messageId: 2 }))
    expect(await r5.next()).toMatchObject({ cmd: 'pubrec', messageId: 2, reasonCode: ReasonCode.NotAuthorized })
    const r4 = await s.raw(port, 4)
    r4.send(publish('secret/b', 1, { messageId: 3 }))
    expect(await r4.next()).toMatchObject({ cmd: 'puback', messageId: 3 })
    expect(seen).toEqual([])
  })

  it('Payload Format Indicator 1 with invalid UTF-8: PUBACK 0x99 for QoS 1, DISCONNECT 0x99 for QoS 0', async () => {
    const { port } = await s.start()
    const r = await s.raw(port, 5)
    const bad = Buffer.from([0xff, 0xfe])
    r.send(publish('t', 1, { messageId: 4, payload: bad, properties: { payloadFormatIndicator: true } }))
    expect(await r.next()).toMatchObject({ cmd: 'puback', messageId: 4, reasonCode: ReasonCode.PayloadFormatInvalid })
    r.send(publish('t', 0, { payload: bad, properties: { payloadFormatIndicator: true } }))
    expect(await r.next()).toMatchObject({ cmd: 'disconnect', reasonCode: ReasonCode.PayloadFormatInvalid })
  })

  it('[MQTT-3.3.2-4] request/response, content type, user properties and payload format pass through unaltered', async () => {
    await s.start()
    const sub = await s.client({ protocolVersion: 5 })
    await sub.subscribeAsync('rr/#', { qos: 1 })
    const got = nextMessage(sub)
    const pub = await s.client({ protocolVersion: 5 })
    await pub.publishAsync('rr/req', '{"q":1}', {
      qos: 1,
      properties: {
        payloadFormatIndicator: true,
        contentType: 'application/json',
        responseTopic: 'rr/resp',
        correlationData: Buffer.from('corr-1'),
        userProperties: { a: '1', b: ['2', '3'] },
      },
    })
    const { packet } = await got
    expect(packet.properties).toMatchObject({
      payloadFormatIndicator: true,
      contentType: 'application/json',
      responseTopic: 'rr/resp',
      correlationData: Buffer.from('corr-1'),
      userProperties: { a: '1', b: ['2', '3'] },
    })
  })

  it('[MQTT-3.3.2-6] Message Expiry Interval is forwarded as the remaining lifetime', async () => {
    let now = Date.now()
    const clock = { now: () => now }
    const t = await s.start({ clock }, { clock })
    const persistent = { clientId: 'exp-sub', clean: false, properties: { sessionExpiryInterval: 60 } }
    const first = await s.raw(t.port, 5, persistent)
    first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'exp/t', qos: 1 }] })
    await first.next()
    first.close()
    await first.closedByServer()
    const pub = await s.client({ protocolVersion: 5 })
    await pub.publishAsync('exp/t', 'x', { qos: 1, properties: { messageExpiryInterval: 100 } })
    // 30.5 s spent in the offline queue.
    now += 30_500
    const r = await s.raw(t.port, 5, persistent)
    expect(await r.next()).toMatchObject({ cmd: 'publish', topic: 'exp/t', properties: { messageExpiryInterval: 70 } })
  })

  it('publish rate limit: reading pauses, so a burst is spread over time instead of refused', async () => {
    const t = await s.start({ publishRate: 20 })
    const sub = await s.client({ protocolVersion: 5 })
    await sub.subscribeAsync('rate/t', { qos: 0 })
    let count = 0
    const all = new Promise<void>((resolve) => sub.on('message', () => ++count === 40 && resolve()))
    const r = await s.raw(t.port, 5)
    const started = Date.now()
    for (let i = 0; i < 40; i++) r.send(publish('rate/t', 0))
    await all
    // 20 in the first burst, 20 more at 20/s.
    expect(Date.now() - started).toBeGreaterThanOrEqual(800)
    expect(r.closed).toBe(false)
  })
})
