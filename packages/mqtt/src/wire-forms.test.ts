import { keepWireCache, wireCache } from '@fluxmq/core'
import type { Delivery, Message, WireCache } from '@fluxmq/core'
import { encodePublish } from '@fluxmq/mqtt-codec'
import type * as Codec from '@fluxmq/mqtt-codec'
import { describe, expect, it, vi } from 'vitest'
import { MqttLink } from './link.js'
import { recordingTarget } from './test-support/harness.js'
import { WireForms, publishPacketFor } from './wire-forms.js'

/** Every PUBLISH the adapter encodes, counted: the codec itself, wrapped. */
const encodes = vi.hoisted(() => ({ count: 0 }))
vi.mock('@fluxmq/mqtt-codec', async (importOriginal) => {
  const codec = await importOriginal<typeof Codec>()
  return {
    ...codec,
    encodePublish: (...args: Parameters<typeof codec.encodePublish>) => {
      encodes.count++
      return codec.encodePublish(...args)
    },
  }
})

/** Another protocol's cache (an AMQP adapter's), which knows nothing of MQTT's. */
class OtherProtocolForms implements WireCache {
  next: WireCache | undefined = undefined
  readonly transfer = Buffer.from('amqp transfer')
}

const message = (over: Partial<Message> = {}): Message => ({
  topic: 'a/b',
  payload: Buffer.from('hello'),
  qos: 2,
  retain: false,
  properties: { contentType: 'text/plain', userProperties: [['k', 'v']] },
  publishedAt: 0,
  ...over,
})

const at = (now: number) => ({ now: () => now })

describe('WireForms', () => {
  it('shares one buffer per plain form and caches it on message.wire', () => {
    const msg = message()
    const a = publishPacketFor(msg, true, 0, false, 0, undefined, at(0), 0, false)
    const forms = msg.wire
    expect(forms).toBeInstanceOf(WireForms)
    expect(publishPacketFor(msg, true, 0, false, 0, undefined, at(0), 0, false)).toBe(a)
    expect(publishPacketFor(msg, false, 0, false, 0, undefined, at(0), 0, false)).not.toBe(a)
    const retained = publishPacketFor(msg, true, 0, true, 0, undefined, at(0), 0, false)
    expect(retained).toEqual(
      encodePublish({ topic: 'a/b', payload: msg.payload, qos: 0, retain: true, dup: false, properties: { contentType: 'text/plain', userProperties: { k: 'v' } } }, 5),
    )
    expect(publishPacketFor(msg, true, 0, true, 0, undefined, at(0), 0, false)).toBe(retained)
    expect(publishPacketFor(msg, true, 0, false, 0, undefined, at(0), 0, false)).toBe(a)
    expect(msg.wire).toBe(forms)
  })

  it('a lone 3.1.1 form and later forms share one WireForms', () => {
    const msg = message({ properties: {} })
    const v3 = publishPacketFor(msg, false, 0, false, 0, undefined, at(0), 0, false)
    const forms = msg.wire
    expect(forms).toBeInstanceOf(WireForms)
    expect(publishPacketFor(msg, false, 0, false, 0, undefined, at(0), 0, false)).toBe(v3)
    const retained = publishPacketFor(msg, false, 0, true, 0, undefined, at(0), 0, false)
    expect(retained).toEqual(encodePublish({ topic: 'a/b', payload: msg.payload, qos: 0, retain: true, dup: false }, 4))
    expect(msg.wire).toBe(forms)
    expect(publishPacketFor(msg, false, 0, false, 0, undefined, at(0), 0, false)).toBe(v3)
    expect(publishPacketFor(msg, false, 0, true, 0, undefined, at(0), 0, false)).toBe(retained)
  })

  it('a 3.1.1 QoS 1 form is stamped for later deliveries, and an MQTT 5 one is a form of its own', () => {
    const msg = message({ properties: {} })
    const expected = (packetId: number, dup: boolean, v: 4 | 5) => encodePublish({ topic: 'a/b', payload: msg.payload, qos: 1, retain: false, dup, packetId, properties: v === 5 ? {} : undefined }, v)
    expect(publishPacketFor(msg, false, 1, false, 0, undefined, at(0), 3, true)).toEqual(expected(3, true, 4))
    expect(publishPacketFor(msg, false, 1, false, 0, undefined, at(0), 4, false)).toEqual(expected(4, false, 4))
    expect(publishPacketFor(msg, true, 1, false, 0, undefined, at(0), 5, false)).toEqual(expected(5, false, 5))
    expect(publishPacketFor(msg, false, 1, false, 0, undefined, at(0), 6, false)).toEqual(expected(6, false, 4))
  })

  it('3.1.1 forms carry no properties', () => {
    const form = new WireForms(message()).get(false, 0, false, 0, [3], at(0), 0, false)
    expect(form).toEqual(encodePublish({ topic: 'a/b', payload: Buffer.from('hello'), qos: 0, retain: false, dup: false }, 4))
  })

  it('QoS 1/2: the first delivery of a form gets the encoded bytes, later ones stamped copies', () => {
    const forms = new WireForms(message())
    const expected = (packetId: number, dup: boolean) =>
      encodePublish({ topic: 'a/b', payload: Buffer.from('hello'), qos: 2, retain: false, dup, packetId, properties: { contentType: 'text/plain', userProperties: { k: 'v' } } }, 5)
    const first = forms.get(true, 2, false, 0, undefined, at(0), 5, false)
    expect(first).toEqual(expected(5, false))
    const second = forms.get(true, 2, false, 0, undefined, at(0), 77, true)
    expect(second).toEqual(expected(77, true))
    expect(forms.get(true, 2, false, 0, undefined, at(0), 9, false)).toEqual(expected(9, false))
    // The first delivery's bytes may still be queued on its socket: stamping never touches them.
    expect(first).toEqual(expected(5, false))
  })

  it('[MQTT-3.3.2-6] a keyed QoS 1 form is stamped per delivery too', () => {
    const msg = message({ expiresAt: 100_000, properties: {} })
    const forms = new WireForms(msg)
    const expected = (packetId: number) =>
      encodePublish({ topic: 'a/b', payload: msg.payload, qos: 1, retain: false, dup: false, packetId, properties: { messageExpiryInterval: 60 } }, 5)
    expect(forms.get(true, 1, false, 0, undefined, at(40_000), 3, false)).toEqual(expected(3))
    expect(forms.get(true, 1, false, 0, undefined, at(40_000), 4, false)).toEqual(expected(4))
  })

  it('[MQTT-3.3.2-6] [MQTT-3.3.4-3] alias, remaining expiry and subscription ids are encoded per form', () => {
    const msg = message({ expiresAt: 100_000, properties: {} })
    const forms = new WireForms(msg)
    const first = forms.get(true, 0, false, -1, [4, 9], at(40_000), 0, false)
    expect(first).toEqual(encodePublish({ topic: 'a/b', payload: msg.payload, qos: 0, retain: false, dup: false, properties: { topicAlias: 1, messageExpiryInterval: 60, subscriptionIdentifier: [4, 9] } }, 5))
    const aliasOnly = forms.get(true, 0, false, 1, [4], at(90_000), 0, false)
    expect(aliasOnly).toEqual(encodePublish({ topic: '', payload: msg.payload, qos: 0, retain: false, dup: false, properties: { topicAlias: 1, messageExpiryInterval: 10, subscriptionIdentifier: 4 } }, 5))
    expect(forms.get(true, 0, false, 1, [4], at(90_000), 0, false)).toBe(aliasOnly)
  })

  it("keeps its forms beside another protocol's cache, each adapter finding only its own", () => {
    const msg = message()
    const other = new OtherProtocolForms()
    keepWireCache(msg, other)
    const v5 = publishPacketFor(msg, true, 0, false, 0, undefined, at(0), 0, false)
    expect(v5).toEqual(new WireForms(msg).get(true, 0, false, 0, undefined, at(0), 0, false))
    expect(publishPacketFor(msg, true, 0, false, 0, undefined, at(0), 0, false)).toBe(v5)
    expect(wireCache(msg, OtherProtocolForms)).toBe(other)
    expect(wireCache(msg, WireForms)).toBeInstanceOf(WireForms)
  })

  it('a mixed 3.1.1 / 5.0 fan-out encodes once per distinct form, whatever order the subscribers come in', () => {
    // 40 subscribers alternating 3.1.1 and 5.0, granted QoS 0 and 1 in turn, some with Retain As Published.
    const subscribers = Array.from({ length: 40 }, (_, i) => ({ target: recordingTarget({ v5: i % 2 === 0 }), qos: ((i >> 1) % 2) as 0 | 1, retain: i % 5 === 0 }))
    const msg = message({ qos: 1, retain: true })
    keepWireCache(msg, new OtherProtocolForms())
    encodes.count = 0
    let deliveryId = 0x10000
    for (const s of subscribers) {
      const delivery: Delivery = { message: msg, qos: s.qos, retain: s.retain, deliveryId: s.qos === 0 ? 0 : ++deliveryId, dup: false, received: false }
      expect(new MqttLink(s.target).deliver(delivery)).toBe(true)
    }
    const forms = new Set(subscribers.map((s) => `${s.target.v5}|${s.qos}|${s.retain}`))
    expect(forms.size).toBe(8)
    expect(encodes.count).toBe(forms.size)
    // Every subscriber got its own protocol's bytes, with its own packet id.
    deliveryId = 0x10000
    for (const s of subscribers) {
      const id = s.qos === 0 ? 0 : ++deliveryId & 0xffff
      expect(s.target.sent).toEqual([
        encodePublish({ topic: 'a/b', payload: msg.payload, qos: s.qos, retain: s.retain, dup: false, packetId: s.qos === 0 ? undefined : id, properties: s.target.v5 ? { contentType: 'text/plain', userProperties: { k: 'v' } } : undefined }, s.target.v5 ? 5 : 4),
      ])
    }
  })
})
