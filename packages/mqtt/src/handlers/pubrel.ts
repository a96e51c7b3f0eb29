import { ReasonCode } from '@fluxmq/mqtt-codec'
import type { IPubrelPacket } from '@fluxmq/mqtt-codec'
import { AckType, encodeAck } from '../acks.js'
import type { Connection } from '../connection.js'

/**
 * PUBREL for a QoS 2 PUBLISH we received: the core releases the id, PUBCOMP answers. A PUBREL
 * repeated after a reconnect (the PUBCOMP was lost with the connection or a crash) is answered
 * with success again; 0x92 only for an id the session never received.
 */
export function handlePubrel(connection: Connection, packet: IPubrelPacket): void {
  const packetId = packet.messageId ?? 0
  const known = connection.broker.releaseExactlyOnce(connection.session!, packetId)
  connection.inboundQos2.delete(packetId)
  // [MQTT-4.3.3-11] the receiver answers PUBREL with PUBCOMP; unknown id: 0x92 (§3.7.2.1).
  connection.send(encodeAck(AckType.Pubcomp, packetId, known ? ReasonCode.Success : ReasonCode.PacketIdentifierNotFound, connection.v5))
}
