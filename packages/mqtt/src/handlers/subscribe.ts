import { ReasonCode } from '@fluxmq/mqtt-codec'
import { Refusal, type QoS, type SubscriptionOptions } from '@fluxmq/core'
import type { ISubscribePacket } from '@fluxmq/mqtt-codec'
import { hasWildcard, parseSharedFilter, validateTopicFilter } from '@fluxmq/topic'
import type { Connection } from '../connection.js'
import { MqttErrorCode, MqttProtocolError, protocolError } from '../errors.js'
import { userPropertiesFromWire } from '../properties.js'
import { subackReason } from '../reason-codes.js'

export function handleSubscribe(connection: Connection, packet: ISubscribePacket): void {
  const options = connection.options
  const subscriptionId = packet.properties?.subscriptionIdentifier
  // Without Subscription Identifier Available the client must not send one: DISCONNECT 0xA1
  // (§3.2.2.3.12). (An identifier of 0 is refused by the codec, §3.8.2.1.2.)
  if (subscriptionId !== undefined && !options.subscriptionIdsAvailable) {
    throw new MqttProtocolError(MqttErrorCode.SubscriptionIdsNotSupported, ReasonCode.SubscriptionIdentifiersNotSupported, 'subscription identifiers not available')
  }
  const userProperties = userPropertiesFromWire(packet.properties?.userProperties)
  const subscriptions = packet.subscriptions
  // [MQTT-3.9.3-1] one SUBACK code per filter, in order.
  const codes: number[] = new Array<number>(subscriptions.length)
  const accepted: SubscriptionOptions[] = []
  const acceptedAt: number[] = []
  for (let i = 0; i < subscriptions.length; i++) {
    const sub = subscriptions[i]!
    const filter = sub.topic
    const invalid = validateTopicFilter(filter)
    const shared = invalid === undefined ? parseSharedFilter(filter) : undefined
    // [MQTT-3.8.3-4] No Local on a shared subscription is a protocol error.
    if (shared !== undefined && sub.nl === true) throw protocolError(`no local on shared subscription ${filter}`)
    if (invalid !== undefined) codes[i] = ReasonCode.TopicFilterInvalid
    else if (shared !== undefined && !options.sharedAvailable) codes[i] = ReasonCode.SharedSubscriptionsNotSupported
    else if (!options.wildcardAvailable && hasWildcard(shared?.filter ?? filter)) codes[i] = ReasonCode.WildcardSubscriptionsNotSupported
    else {
      const request: SubscriptionOptions = {
        filter,
        // Never grant more than the Maximum QoS we advertised (§3.2.2.3.4), whatever the core allows.
        qos: Math.min(sub.qos, options.maxQos) as QoS,
        noLocal: sub.nl === true,
        retainAsPublished: sub.rap === true,
        retainHandling: (sub.rh ?? 0) as 0 | 1 | 2,
        ...(subscriptionId === undefined ? {} : { subscriptionId }),
        ...(userProperties === undefined ? {} : { userProperties }),
      }
      accepted.push(request)
      acceptedAt.push(i)
    }
  }
  const session = connection.session!
  const result = connection.broker.subscribe(session, accepted)
  for (let j = 0; j < acceptedAt.length; j++) codes[acceptedAt[j]!] = subackReason(result.codes[j] ?? Refusal.Unspecified)
  // 3.1.1 knows one failure code, 0x80 [MQTT-3.9.3-2].
  const granted = connection.v5 ? codes : codes.map((code) => (code >= 0x80 ? 0x80 : code))
  // [MQTT-3.8.4-1] SUBACK with the same packet id, before any retained message it triggers.
  connection.sendPacket({ cmd: 'suback', messageId: packet.messageId ?? 0, granted })
  // [MQTT-3.3.1-9] retained messages follow the SUBACK, per each subscription's Retain Handling.
  connection.broker.deliverRetained(session, accepted, result)
}
