import type { ClientLink, Delivery, Refusal } from '@fluxmq/core'
import type { ReasonCode } from '@fluxmq/mqtt-codec'
import { AckType, encodeAck } from './acks.js'
import { reasonOf } from './reason-codes.js'
import type { OutboundTopicAliases } from './topic-alias.js'
import { publishPacketFor } from './wire-forms.js'

/** What the link needs from its connection. */
export interface LinkTarget {
  readonly v5: boolean
  /** False once the connection is closing: deliveries stay inflight in the core and are resent on reconnect. */
  readonly open: boolean
  readonly outboundAliases: OutboundTopicAliases
  /** The client's Maximum Packet Size (MQTT 5 CONNECT property); unlimited otherwise. */
  readonly clientMaximumPacketSize: number
  hasCredit(): boolean
  now(): number
  send(packet: Buffer): void
  closeByServer(reason: ReasonCode, reasonString?: string): void
}

/** How the core reaches one MQTT client: deliveries become PUBLISH bytes queued on the connection. */
export class MqttLink implements ClientLink {
  constructor(private readonly target: LinkTarget) {}

  hasCredit(): boolean {
    return this.target.hasCredit()
  }

  deliver(delivery: Delivery): boolean {
    const target = this.target
    if (!target.open) return true
    // The packet identifier is the delivery's short id: unique among the session's unsettled
    // deliveries, never 0, and the same on every resend, across reconnects, restarts and nodes
    // [MQTT-2.2.1-3] [MQTT-4.4.0-1].
    const packetId = delivery.deliveryId & 0xffff
    // [MQTT-4.3.3] A QoS 2 delivery the client already acknowledged with PUBREC is resent as PUBREL.
    if (delivery.received) {
      target.send(encodeAck(AckType.Pubrel, packetId, 0, target.v5))
      return true
    }
    const message = delivery.message
    const v5 = target.v5
    const alias = v5 ? target.outboundAliases.choose(message.topic) : 0
    const packet = publishPacketFor(message, v5, delivery.qos, delivery.retain, alias, delivery.subscriptionIds, target, packetId, delivery.dup)
    // [MQTT-3.1.2-25] Never send a packet larger than the client's Maximum Packet Size: the
    // message is dropped for this client as if delivered.
    if (packet.length > target.clientMaximumPacketSize) {
      target.outboundAliases.forget(message.topic, alias)
      return false
    }
    target.send(packet)
    return true
  }

  close(reason: Refusal, reasonString?: string): void {
    this.target.closeByServer(reasonOf(reason), reasonString)
  }
}
