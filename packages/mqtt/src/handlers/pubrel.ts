import { ReasonCode } from '@fluxmq/core'
import type { IPubrelPacket } from '@fluxmq/mqtt-codec'
import { AckType, encodeAck } from '../acks.js'
import type { Connection } from '../connection.js'

/** PUBREL for a QoS 2 PUBLISH we received: the core forgets the id, PUBCOMP answers (0x92 when unknown). */
export function handlePubrel(connection: Connection, packet: IPubrelPacket): void {
  const packetId = packet.messageId ?? 0
  const known = connection.broker.releaseQos2(connection.session!, packetId)
  connection.inboundQos2.delete(packetId)
  // [MQTT-4.3.3-11] the receiver answers PUBREL with PUBCOMP; unknown id: 0x92 (§3.7.2.1).
  connection.send(encodeAck(AckType.Pubcomp, packetId, known ? ReasonCode.Success : ReasonCode.PacketIdentifierNotFound, connection.v5))
}
