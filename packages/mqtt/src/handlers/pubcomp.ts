import type { IPubcompPacket } from '@fluxmq/mqtt-codec'
import type { Connection } from '../connection.js'

/** PUBCOMP for a QoS 2 delivery of ours: the exchange is complete, the delivery settled accepted. */
export function handlePubcomp(connection: Connection, packet: IPubcompPacket): void {
  const packetId = packet.messageId ?? 0
  if (!connection.broker.settle(connection.session!, packetId, 'accepted')) {
    connection.log.debug({ packetId }, 'PUBCOMP for a packet id that is not awaiting it')
  }
}
