import { ReasonCode } from '@fluxmq/mqtt-codec'
import type { IPubrecPacket } from '@fluxmq/mqtt-codec'
import { AckType, encodeAck } from '../acks.js'
import type { Connection } from '../connection.js'

/** PUBREC for a QoS 2 delivery of ours: answer PUBREL, or end the flow when the client refused it. */
export function handlePubrec(connection: Connection, packet: IPubrecPacket): void {
  const packetId = packet.messageId ?? 0
  const session = connection.session!
  // [MQTT-4.3.3-4] (5.0) a PUBREC >= 0x80 ends the exchange: no PUBREL, the packet id is free again.
  if (connection.v5 && (packet.reasonCode ?? 0) >= 0x80) {
    connection.broker.settle(session, packetId, 'rejected')
    return
  }
  // The first phase of the two-phase settlement: the client has the message.
  const known = connection.broker.received(session, packetId)
  // Unknown id: PUBREL 0x92 (MQTT 5 §3.6.2.1) so the client can clear its own state.
  connection.send(encodeAck(AckType.Pubrel, packetId, known ? ReasonCode.Success : ReasonCode.PacketIdentifierNotFound, connection.v5))
}
