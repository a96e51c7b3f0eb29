import { PINGRESP } from '../acks.js'
import type { Connection } from '../connection.js'

/** [MQTT-3.12.4-1] the server answers PINGREQ with PINGRESP. */
export function handlePingreq(connection: Connection): void {
  connection.send(PINGRESP)
}
