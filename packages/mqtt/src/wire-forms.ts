import type { Clock, Message } from '@fluxmq/core'
import { encodePublish } from '@fluxmq/mqtt-codec'
import type { PublishFields } from '@fluxmq/mqtt-codec'
import { messagePropertiesToWire, remainingExpirySeconds } from './properties.js'
import type { WireMessageProperties } from './properties.js'

/** Forms beyond the plain ones (aliases, expiry, subscription ids) kept per message at most. */
const MAX_KEYED_FORMS = 64
/** Placeholder packet id of QoS 1/2 templates; stampPacketId writes the real one into a copy. */
const TEMPLATE_PACKET_ID = 1

/**
 * The encoded PUBLISH forms of one message, shared by every subscriber it goes to (stored on
 * `message.wire`). Plain forms — no alias, no expiry, no subscription ids, the common case — sit
 * in fixed slots indexed by (protocol 3.1.1 | 5) × QoS × RETAIN, so finding one allocates nothing.
 * QoS 1/2 forms are templates that stampPacketId copies with the subscriber's packet id.
 */
export class WireForms {
  private readonly plain: (Buffer | undefined)[] = [undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined]
  private keyed: Map<string, Buffer> | undefined
  private v5Properties: WireMessageProperties | undefined

  constructor(private readonly message: Message) {}

  /**
   * The form of `message` for one delivery; see OutboundTopicAliases.choose for `alias`. The clock
   * is read only for messages that expire.
   */
  get(v5: boolean, qos: 0 | 1 | 2, retain: boolean, alias: number, subscriptionIds: readonly number[] | undefined, clock: Clock): Buffer {
    const expiresAt = this.message.expiresAt
    const hasIds = subscriptionIds !== undefined && subscriptionIds.length > 0
    if (!v5 || (alias === 0 && expiresAt === undefined && !hasIds)) {
      const slot = (v5 ? 6 : 0) + qos * 2 + (retain ? 1 : 0)
      return (this.plain[slot] ??= this.encode(v5, qos, retain, 0, undefined, undefined))
    }
    const expiry = expiresAt === undefined ? undefined : remainingExpirySeconds(expiresAt, clock.now())
    const key = `${qos}${retain ? 1 : 0}|${alias}|${expiry ?? ''}|${hasIds ? subscriptionIds.join(',') : ''}`
    const keyed = (this.keyed ??= new Map())
    const cached = keyed.get(key)
    if (cached !== undefined) return cached
    const form = this.encode(true, qos, retain, alias, expiry, hasIds ? subscriptionIds : undefined)
    if (keyed.size < MAX_KEYED_FORMS) keyed.set(key, form)
    return form
  }

  private encode(v5: boolean, qos: 0 | 1 | 2, retain: boolean, alias: number, expiry: number | undefined, subscriptionIds: readonly number[] | undefined): Buffer {
    const message = this.message
    const fields: PublishFields = {
      // alias > 0: the client knows the alias, the topic is sent empty (§3.3.2.3.4).
      topic: alias > 0 ? '' : message.topic,
      payload: message.payload,
      qos,
      retain,
      dup: false,
    }
    if (qos > 0) fields.packetId = TEMPLATE_PACKET_ID
    if (v5) {
      const base = (this.v5Properties ??= messagePropertiesToWire(message.properties))
      if (alias === 0 && expiry === undefined && subscriptionIds === undefined) {
        fields.properties = base
      } else {
        const props: NonNullable<PublishFields['properties']> = { ...base }
        if (alias !== 0) props.topicAlias = Math.abs(alias)
        // [MQTT-3.3.2-6] the remaining lifetime, not the one the publisher gave.
        if (expiry !== undefined) props.messageExpiryInterval = expiry
        // [MQTT-3.3.4-3] every matching subscription's identifier goes with the delivery.
        if (subscriptionIds !== undefined) props.subscriptionIdentifier = subscriptionIds.length === 1 ? subscriptionIds[0]! : [...subscriptionIds]
        fields.properties = props
      }
    }
    return encodePublish(fields, v5 ? 5 : 4)
  }
}

/** The message's shared forms, created on first delivery. Another adapter's cache is left alone. */
export function wireFormsOf(message: Message): WireForms {
  const wire = message.wire
  if (wire instanceof WireForms) return wire
  const forms = new WireForms(message)
  if (wire === undefined) message.wire = forms
  return forms
}
