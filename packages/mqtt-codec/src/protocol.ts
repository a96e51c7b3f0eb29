/** Protocol level byte of CONNECT: 3 = MQIsdp 3.1, 4 = MQTT 3.1.1, 5 = MQTT 5.0. */
export type ProtocolVersion = 3 | 4 | 5

export function isProtocolVersion(level: number): level is ProtocolVersion {
  return level === 3 || level === 4 || level === 5
}

/** Control packet types, the high nibble of the first fixed-header byte (MQTT 5 §2.1.2). */
export const PacketType = {
  Reserved: 0,
  Connect: 1,
  Connack: 2,
  Publish: 3,
  Puback: 4,
  Pubrec: 5,
  Pubrel: 6,
  Pubcomp: 7,
  Subscribe: 8,
  Suback: 9,
  Unsubscribe: 10,
  Unsuback: 11,
  Pingreq: 12,
  Pingresp: 13,
  Disconnect: 14,
  Auth: 15,
} as const

/** Largest value a Variable Byte Integer can carry (MQTT 5 §1.5.5). */
export const MAX_VARIABLE_BYTE_INTEGER = 268_435_455
