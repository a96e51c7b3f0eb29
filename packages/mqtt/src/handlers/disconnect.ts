import { ReasonCode } from '@fluxmq/mqtt-codec'
import type { IDisconnectPacket } from '@fluxmq/mqtt-codec'
import type { Connection } from '../connection.js'
import { protocolError } from '../errors.js'

export function handleDisconnect(connection: Connection, packet: IDisconnectPacket): void {
  const expiry = packet.properties?.sessionExpiryInterval
  // A session that ended with the connection cannot be revived by DISCONNECT: 0 → non-zero is a
  // protocol error (§3.14.2.2.2); the will is then published.
  if (expiry !== undefined && expiry !== 0 && connection.connectSessionExpiry === 0) {
    throw protocolError('DISCONNECT sets a session expiry interval on a session that had none')
  }
  if (expiry !== undefined) connection.disconnectSessionExpiry = expiry
  // [MQTT-3.14.4-3] DISCONNECT 0x00 discards the will; any other reason (0x04 Disconnect with Will
  // Message included) leaves it to be published.
  connection.willSuppressed = (packet.reasonCode ?? ReasonCode.Success) === ReasonCode.Success
  connection.log.debug({ reasonCode: packet.reasonCode ?? 0 }, 'client disconnected')
  // [MQTT-3.14.4-1] nothing follows a DISCONNECT; the server closes without answering.
  connection.endByClient()
}
