import { ReasonCode } from '@fluxmq/mqtt-codec'
import { describe, expect, it } from 'vitest'
import { testScope } from '../test-support/harness.js'

const s = testScope()
const sub = (topic: string, qos: 0 | 1 | 2 = 0, extra: Record<string, unknown> = {}) => ({ topic, qos, ...extra })

describe('SUBSCRIBE / UNSUBSCRIBE', () => {
  it('[MQTT-3.8.4-1] [MQTT-3.9.3-1] SUBACK has one code per filter in order; invalid filters get 0x8F (v5) / 0x80 (3.1.1)', async () => {
    const { port } = await s.start({ maxQos: 1 })
    const r5 = await s.raw(port, 5)
    r5.send({ cmd: 'subscribe', messageId: 3, subscriptions: [sub('ok/+', 2), sub('bad/#/x', 1), sub('fine', 0), sub('a+/b', 1)] })
    expect(await r5.next()).toMatchObject({ cmd: 'suback', messageId: 3, granted: [1, ReasonCode.TopicFilterInvalid, 0, ReasonCode.TopicFilterInvalid] })
    const r4 = await s.raw(port, 4)
    r4.send({ cmd: 'subscribe', messageId: 4, subscriptions: [sub('bad/#/x', 1), sub('ok', 1)] })
    expect(await r4.next()).toMatchObject({ cmd: 'suback', messageId: 4, granted: [0x80, 1] })
  })

  it('[MQTT-3.8.3-4] No Local on a shared subscription is a protocol error: DISCONNECT 0x82', async () => {
    const { port } = await s.start()
    const r = await s.raw(port, 5)
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [sub('$share/g/t', 1, { nl: true })] })
    expect(await r.next()).toMatchObject({ cmd: 'disconnect', reasonCode: ReasonCode.ProtocolError })
  })

  it('Subscription Identifier 0 is a protocol error (§3.8.2.1.2)', async () => {
    const { port } = await s.start()
    const r = await s.raw(port, 5)
    // mqtt-packet refuses to encode identifier 0: SUBSCRIBE id 1, properties [0x0B 0x00], filter "t", options 0.
    r.sendBytes([0x82, 0x09, 0x00, 0x01, 0x02, 0x0b, 0x00, 0x00, 0x01, 0x74, 0x00])
    expect(await r.next()).toMatchObject({ cmd: 'disconnect', reasonCode: ReasonCode.ProtocolError })
  })

  it('a Subscription Identifier without Subscription Identifier Available: DISCONNECT 0xA1', async () => {
    const { port } = await s.start({ subscriptionIdsAvailable: false })
    const r = await s.raw(port, 5)
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [sub('t')], properties: { subscriptionIdentifier: 5 } })
    expect(await r.next()).toMatchObject({ cmd: 'disconnect', reasonCode: ReasonCode.SubscriptionIdentifiersNotSupported })
  })

  it('wildcards and shared subscriptions can be switched off: 0xA2 / 0x9E per filter', async () => {
    const { port } = await s.start({ wildcardAvailable: false, sharedAvailable: false })
    const r = await s.raw(port, 5)
    r.send({ cmd: 'subscribe', messageId: 2, subscriptions: [sub('a/+'), sub('$share/g/t'), sub('plain'), sub('#')] })
    expect(await r.next()).toMatchObject({
      granted: [ReasonCode.WildcardSubscriptionsNotSupported, ReasonCode.SharedSubscriptionsNotSupported, 0, ReasonCode.WildcardSubscriptionsNotSupported],
    })
  })

  it('[MQTT-3.3.1-9] retained messages follow the SUBACK with RETAIN=1', async () => {
    const { port } = await s.start()
    const pub = await s.client({ protocolVersion: 5 })
    await pub.publishAsync('ret/a', 'kept', { qos: 1, retain: true })
    const r = await s.raw(port, 5)
    r.send({ cmd: 'subscribe', messageId: 8, subscriptions: [sub('ret/#', 1)] })
    expect(await r.next()).toMatchObject({ cmd: 'suback', messageId: 8 })
    expect(await r.next()).toMatchObject({ cmd: 'publish', topic: 'ret/a', retain: true, payload: Buffer.from('kept') })
  })

  it('[MQTT-3.3.4-3] subscription identifiers are delivered with the messages they matched', async () => {
    const { port } = await s.start()
    const r = await s.raw(port, 5)
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [sub('ids/+', 1)], properties: { subscriptionIdentifier: 11 } })
    await r.next()
    r.send({ cmd: 'subscribe', messageId: 2, subscriptions: [sub('ids/#', 1)], properties: { subscriptionIdentifier: 22 } })
    await r.next()
    const pub = await s.client({ protocolVersion: 5 })
    await pub.publishAsync('ids/x', 'y', { qos: 1 })
    const delivered = (await r.next()) as { properties?: { subscriptionIdentifier?: number[] } }
    expect([...(delivered.properties?.subscriptionIdentifier ?? [])].sort()).toEqual([11, 22])
  })

  it('[MQTT-3.10.4-4] [MQTT-3.11.3-1] UNSUBACK: one reason code per filter (v5), none (3.1.1)', async () => {
    const { port } = await s.start()
    const r5 = await s.raw(port, 5)
    r5.send({ cmd: 'subscribe', messageId: 1, subscriptions: [sub('u/1')] })
    await r5.next()
    r5.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['u/1', 'u/2', 'bad/#/x'] })
    expect(await r5.next()).toMatchObject({ cmd: 'unsuback', messageId: 2, granted: [0, ReasonCode.NoSubscriptionExisted, ReasonCode.TopicFilterInvalid] })
    const r4 = await s.raw(port, 4)
    r4.send({ cmd: 'unsubscribe', messageId: 3, unsubscriptions: ['u/1'] })
    const ack = await r4.next()
    expect(ack).toMatchObject({ cmd: 'unsuback', messageId: 3 })
    expect(ack.length).toBe(2)
  })

  it('a subscriber with No Local does not get its own messages [MQTT-3.8.3-3]', async () => {
    const { port } = await s.start()
    const r = await s.raw(port, 5)
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [sub('nl/t', 0, { nl: true }), sub('nl/marker', 0)] })
    await r.next()
    r.send({ cmd: 'publish', topic: 'nl/t', payload: Buffer.from('mine'), qos: 0, retain: false, dup: false })
    r.send({ cmd: 'publish', topic: 'nl/marker', payload: Buffer.from('m'), qos: 0, retain: false, dup: false })
    expect(await r.next()).toMatchObject({ cmd: 'publish', topic: 'nl/marker' })
  })
})
