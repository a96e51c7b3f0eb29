import type { Message } from '@fluxmq/core'
import { encodePublish } from '@fluxmq/mqtt-codec'
import { describe, expect, it } from 'vitest'
import { WireForms, publishPacketFor } from './wire-forms.js'

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

  it('keeps a lone 3.1.1 form bare on message.wire and wraps it once a second form is needed', () => {
    const msg = message({ properties: {} })
    const v3 = publishPacketFor(msg, false, 0, false, 0, undefined, at(0), 0, false)
    expect(msg.wire).toBe(v3)
    expect(publishPacketFor(msg, false, 0, false, 0, undefined, at(0), 0, false)).toBe(v3)
    const retained = publishPacketFor(msg, false, 0, true, 0, undefined, at(0), 0, false)
    expect(retained).toEqual(encodePublish({ topic: 'a/b', payload: msg.payload, qos: 0, retain: true, dup: false }, 4))
    expect(msg.wire).toBeInstanceOf(WireForms)
    expect(publishPacketFor(msg, false, 0, false, 0, undefined, at(0), 0, false)).toBe(v3)
    expect(publishPacketFor(msg, false, 0, true, 0, undefined, at(0), 0, false)).toBe(retained)
  })

  it('a bare 3.1.1 QoS 1 form is stamped for later deliveries and wrapped for an MQTT 5 one', () => {
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

  it("leaves another adapter's cache alone", () => {
    const foreign = { amqp: true }
    const msg = message({ wire: foreign })
    expect(publishPacketFor(msg, true, 0, false, 0, undefined, at(0), 0, false)).toEqual(new WireForms(msg).get(true, 0, false, 0, undefined, at(0), 0, false))
    expect(publishPacketFor(msg, false, 0, false, 0, undefined, at(0), 0, false)).toEqual(new WireForms(msg).get(false, 0, false, 0, undefined, at(0), 0, false))
    expect(msg.wire).toBe(foreign)
  })
})
