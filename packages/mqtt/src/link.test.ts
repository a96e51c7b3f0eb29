import { Refusal, type Delivery, type Message } from '@fluxmq/core'
import { ReasonCode } from '@fluxmq/mqtt-codec'
import { describe, expect, it } from 'vitest'
import { MqttLink } from './link.js'
import { recordingTarget as target, testScope } from './test-support/harness.js'
import { OutboundTopicAliases } from './topic-alias.js'


const message: Message = { topic: 'fan/out', payload: Buffer.alloc(100, 1), qos: 1, retain: false, properties: {}, publishedAt: 0 }
const delivery = (over: Partial<Delivery> = {}): Delivery => ({ message, qos: 0, retain: false, deliveryId: 0, dup: false, received: false, ...over })

describe('MqttLink', () => {
  it('encodes once per distinct form: QoS 0 subscribers share the same bytes', () => {
    const a = target()
    const b = target()
    new MqttLink(a).deliver(delivery())
    new MqttLink(b).deliver(delivery())
    expect(a.sent[0]).toBe(b.sent[0])
  })

  it('QoS 1 subscribers get copies stamped with their own packet id (the short delivery id) and DUP flag', () => {
    const a = target()
    const b = target()
    new MqttLink(a).deliver(delivery({ qos: 1, deliveryId: 0x10007 }))
    new MqttLink(b).deliver(delivery({ qos: 1, deliveryId: 0x50008, dup: true }))
    expect(a.sent[0]!.readUInt16BE(2 + 2 + 'fan/out'.length)).toBe(7)
    expect(b.sent[0]!.readUInt16BE(2 + 2 + 'fan/out'.length)).toBe(8)
    expect(b.sent[0]![0]! & 0x08).toBe(0x08)
  })

  it('[MQTT-3.1.2-25] a message larger than the client Maximum Packet Size is skipped (deliver returns false)', () => {
    const small = target({ clientMaximumPacketSize: 50, outboundAliases: new OutboundTopicAliases(5) })
    expect(new MqttLink(small).deliver(delivery())).toBe(false)
    expect(small.sent).toEqual([])
    // The alias reserved for the skipped message is released again.
    expect(small.outboundAliases.choose('fan/out')).toBe(-1)
  })

  it('deliveries to a closing connection stay with the core (true, nothing sent)', () => {
    const closing = target({ open: false })
    expect(new MqttLink(closing).deliver(delivery({ qos: 1, deliveryId: 0x10003 }))).toBe(true)
    expect(closing.sent).toEqual([])
  })

  it('a received QoS 2 delivery is resent as PUBREL; close reaches the connection', () => {
    const closes: unknown[] = []
    const t = target({ closeByServer: (reason, text) => closes.push([reason, text]) })
    const link = new MqttLink(t)
    expect(link.deliver(delivery({ qos: 2, deliveryId: 0x2002a, received: true }))).toBe(true)
    expect(t.sent[0]).toEqual(Buffer.from([0x62, 0x02, 0x00, 42]))
    link.close(Refusal.SessionTakenOver, 'taken over')
    expect(closes).toEqual([[ReasonCode.SessionTakenOver, 'taken over']])
  })
})

const s = testScope()
const publisher = () => s.client({ protocolVersion: 5 })
/** A raw v5 client subscribed to `topic` (its SUBACK read). */
const subscriber = async (topic: string, qos: 0 | 1 | 2, connect: Parameters<typeof s.raw>[2] = {}) => {
  const r = await s.raw(s.t.port, 5, connect)
  r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos }] })
  await r.next()
  return r
}

describe('deliveries over real sockets', () => {
  it('[MQTT-3.1.2-25] a subscriber with a small Maximum Packet Size skips big messages and gets the rest', async () => {
    await s.start()
    const r = await subscriber('big/#', 1, { properties: { maximumPacketSize: 64 } })
    const pub = await publisher()
    await pub.publishAsync('big/1', Buffer.alloc(500), { qos: 1 })
    await pub.publishAsync('big/2', 'small', { qos: 1 })
    expect(await r.next()).toMatchObject({ cmd: 'publish', topic: 'big/2' })
  })

  it('[MQTT-3.3.2-11] topic aliases out: the first PUBLISH carries topic and alias, repeats only the alias', async () => {
    await s.start()
    const r = await subscriber('al/#', 0, { properties: { topicAliasMaximum: 1 } })
    const pub = await publisher()
    await pub.publishAsync('al/one', '1')
    await pub.publishAsync('al/one', '2')
    await pub.publishAsync('al/two', '3')
    expect(await r.next()).toMatchObject({ topic: 'al/one', properties: { topicAlias: 1 } })
    expect(await r.next()).toMatchObject({ topic: '', properties: { topicAlias: 1 }, payload: Buffer.from('2') })
    const third = (await r.next()) as { topic: string; properties?: { topicAlias?: number } }
    expect(third.topic).toBe('al/two')
    expect(third.properties?.topicAlias).toBeUndefined()
  })

  it('outgoing QoS 2: PUBREC gets PUBREL, PUBCOMP completes; PUBREC for an unknown id gets PUBREL 0x92', async () => {
    const t = await s.start()
    const r = await subscriber('q2', 2)
    const pub = await publisher()
    await pub.publishAsync('q2', 'exactly once', { qos: 2 })
    const delivered = (await r.next()) as { messageId: number }
    r.send({ cmd: 'pubrec', messageId: delivered.messageId })
    expect(await r.next()).toMatchObject({ cmd: 'pubrel', messageId: delivered.messageId })
    r.send({ cmd: 'pubcomp', messageId: delivered.messageId })
    r.send({ cmd: 'pubrec', messageId: 999 })
    expect(await r.next()).toMatchObject({ cmd: 'pubrel', messageId: 999, reasonCode: ReasonCode.PacketIdentifierNotFound })
    expect(t.broker.stats.inflightCurrent).toBe(0)
  })

  it('[MQTT-4.3.3-4] a PUBREC >= 0x80 ends the outgoing QoS 2 flow without PUBREL', async () => {
    const t = await s.start()
    const r = await subscriber('q2', 2)
    const pub = await publisher()
    await pub.publishAsync('q2', 'refused', { qos: 2 })
    const delivered = (await r.next()) as { messageId: number }
    r.send({ cmd: 'pubrec', messageId: delivered.messageId, reasonCode: ReasonCode.QuotaExceeded })
    r.send({ cmd: 'pingreq' })
    expect(await r.next()).toMatchObject({ cmd: 'pingresp' })
    expect(t.broker.stats.inflightCurrent).toBe(0)
  })

  it('[MQTT-4.4.0-1] unacknowledged QoS 1 deliveries are resent with DUP on reconnect', async () => {
    const t = await s.start()
    const persistent = { clientId: 'resend', clean: false, properties: { sessionExpiryInterval: 60 } }
    const first = await subscriber('rs', 1, persistent)
    const pub = await publisher()
    await pub.publishAsync('rs', 'again', { qos: 1 })
    const original = (await first.next()) as { messageId: number; dup: boolean }
    expect(original.dup).toBe(false)
    first.close()
    await first.closedByServer()
    const second = await s.raw(t.port, 5, persistent)
    expect(await second.next()).toMatchObject({ cmd: 'publish', dup: true, messageId: original.messageId, payload: Buffer.from('again') })
  })
})
