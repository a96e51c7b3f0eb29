import type { IPubackPacket } from '@fluxmq/mqtt-codec'
import type { Connection } from '../connection.js'

/**
 * PUBACK for a QoS 1 delivery of ours: settled accepted, whatever the reason code (SPEC §4: in
 * ack-mode auto a PUBACK acknowledges a queue message). The packet id is the delivery's short id.
 */
export function handlePuback(connection: Connection, packet: IPubackPacket): void {
  const packetId = packet.messageId ?? 0
  if (!connection.broker.settle(connection.session!, packetId, 'accepted')) {
    connection.log.debug({ packetId }, 'PUBACK for a packet id that is not inflight')
  }
}
