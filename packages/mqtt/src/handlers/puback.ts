import type { IPubackPacket } from '@fluxmq/mqtt-codec'
import type { Connection } from '../connection.js'

/** PUBACK for a QoS 1 delivery of ours: the core frees the inflight slot (whatever the reason code). */
export function handlePuback(connection: Connection, packet: IPubackPacket): void {
  const packetId = packet.messageId ?? 0
  if (!connection.broker.puback(connection.session!, packetId)) {
    connection.log.debug({ packetId }, 'PUBACK for a packet id that is not inflight')
  }
}
