import { keepWireCache, wireCache } from '@fluxmq/core'
import type { Clock, Message, WireCache } from '@fluxmq/core'
import { encodePublish, stampPacketId } from '@fluxmq/mqtt-codec'
import type { PublishFields } from '@fluxmq/mqtt-codec'
import { messagePropertiesToWire, remainingExpirySeconds } from './properties.js'
import type { WireMessageProperties } from './properties.js'

/** Forms beyond the plain ones (aliases, expiry, subscription ids) kept per message at most. */
const MAX_KEYED_FORMS = 64
/** Plain form slots: (protocol 3.1.1 | 5) × QoS × RETAIN. */
const PLAIN_SLOTS = 12

/**
 * The encoded PUBLISH forms of one message, shared by every subscriber it goes to: the MQTT
 * adapter's `WireCache` on `message.wire`, beside other protocols' caches. One form per distinct
 * outgoing form, whatever order subscribers of 3.1.1 and 5.0 come in. Plain forms — no alias, no
 * expiry, no subscription ids, the common case — are found by slot (protocol × QoS × RETAIN)
 * without allocating; most messages need a single form, so it sits in a field and the slot array
 * exists only once a second one is needed. Forms with properties per delivery are keyed by them.
 *
 * A QoS 1/2 form is encoded with the packet id and DUP flag of the delivery that needed it first
 * and goes out as it is; every later delivery of that form gets a copy stamped with its own id
 * (stampPacketId). So a message with one subscriber is encoded once and never copied.
 */
export class WireForms implements WireCache {
  next: WireCache | undefined = undefined
  private firstSlot = -1
  private firstForm: Buffer | undefined
  private plain: (Buffer | undefined)[] | undefined
  private keyed: Map<string, Buffer> | undefined
  private v5Properties: WireMessageProperties | undefined

  constructor(private readonly message: Message) {}

  /**
   * The PUBLISH bytes of `message` for one delivery (`packetId` and `dup` matter for QoS 1/2
   * only); see OutboundTopicAliases.choose for `alias`. The clock is read only for messages that
   * expire. The buffer may be shared and must not be modified.
   */
  get(v5: boolean, qos: 0 | 1 | 2, retain: boolean, alias: number, subscriptionIds: readonly number[] | undefined, clock: Clock, packetId: number, dup: boolean): Buffer {
    const expiresAt = this.message.expiresAt
    const hasIds = subscriptionIds !== undefined && subscriptionIds.length > 0
    if (!v5 || (alias === 0 && expiresAt === undefined && !hasIds)) {
      const slot = (v5 ? 6 : 0) + qos * 2 + (retain ? 1 : 0)
      const cached = slot === this.firstSlot ? this.firstForm : this.plain?.[slot]
      if (cached !== undefined) return qos === 0 ? cached : stampPacketId(cached, packetId, dup)
      const form = this.encode(v5, qos, retain, 0, undefined, undefined, packetId, dup)
      if (this.firstSlot < 0) {
        this.firstSlot = slot
        this.firstForm = form
      } else {
        ;(this.plain ??= new Array<Buffer | undefined>(PLAIN_SLOTS))[slot] = form
      }
      return form
    }
    const expiry = expiresAt === undefined ? undefined : remainingExpirySeconds(expiresAt, clock.now())
    const key = `${qos}${retain ? 1 : 0}|${alias}|${expiry ?? ''}|${hasIds ? subscriptionIds.join(',') : ''}`
    const keyed = (this.keyed ??= new Map())
    const cached = keyed.get(key)
    if (cached !== undefined) return qos === 0 ? cached : stampPacketId(cached, packetId, dup)
    const form = this.encode(true, qos, retain, alias, expiry, hasIds ? subscriptionIds : undefined, packetId, dup)
    if (keyed.size < MAX_KEYED_FORMS) keyed.set(key, form)
    return form
  }

  private encode(v5: boolean, qos: 0 | 1 | 2, retain: boolean, alias: number, expiry: number | undefined, subscriptionIds: readonly number[] | undefined, packetId: number, dup: boolean): Buffer {
    const v5Properties = v5 ? (this.v5Properties ??= messagePropertiesToWire(this.message.properties)) : undefined
    return encodeForm(this.message, v5Properties, qos, retain, alias, expiry, subscriptionIds, packetId, dup)
  }
}

/** One PUBLISH form; `v5Properties` undefined means MQTT 3.1.1. */
function encodeForm(message: Message, v5Properties: WireMessageProperties | undefined, qos: 0 | 1 | 2, retain: boolean, alias: number, expiry: number | undefined, subscriptionIds: readonly number[] | undefined, packetId: number, dup: boolean): Buffer {
  const fields: PublishFields = {
    // alias > 0: the client knows the alias, the topic is sent empty (§3.3.2.3.4).
    topic: alias > 0 ? '' : message.topic,
    payload: message.payload,
    qos,
    retain,
    // [MQTT-3.3.1-2] DUP is 0 on every QoS 0 PUBLISH.
    dup: qos > 0 && dup,
  }
  if (qos > 0) fields.packetId = packetId
  if (v5Properties !== undefined) {
    if (alias === 0 && expiry === undefined && subscriptionIds === undefined) {
      fields.properties = v5Properties
    } else {
      const props: NonNullable<PublishFields['properties']> = { ...v5Properties }
      if (alias !== 0) props.topicAlias = Math.abs(alias)
      // [MQTT-3.3.2-6] the remaining lifetime, not the one the publisher gave.
      if (expiry !== undefined) props.messageExpiryInterval = expiry
      // [MQTT-3.3.4-3] every matching subscription's identifier goes with the delivery.
      if (subscriptionIds !== undefined) props.subscriptionIdentifier = subscriptionIds.length === 1 ? subscriptionIds[0]! : [...subscriptionIds]
      fields.properties = props
    }
  }
  return encodePublish(fields, v5Properties !== undefined ? 5 : 4)
}

/**
 * The PUBLISH bytes of `message` for one delivery, from the forms shared on `message.wire` (see
 * WireForms.get for the arguments). The MQTT cache is created on the message's first MQTT
 * delivery and kept in front of other adapters' caches.
 */
export function publishPacketFor(message: Message, v5: boolean, qos: 0 | 1 | 2, retain: boolean, alias: number, subscriptionIds: readonly number[] | undefined, clock: Clock, packetId: number, dup: boolean): Buffer {
  const wire = message.wire
  let forms = wire instanceof WireForms ? wire : wire === undefined ? undefined : wireCache(message, WireForms)
  if (forms === undefined) keepWireCache(message, (forms = new WireForms(message)))
  return forms.get(v5, qos, retain, alias, subscriptionIds, clock, packetId, dup)
}
