/**
 * The four acknowledgement packets of the QoS 1/2 flows, written by hand: one per inbound
 * message on the publish path, so they skip the generic encoder. Byte-identical to what
 * mqtt-packet generates (the test compares them).
 */
export const AckType = {
  Puback: 0x40,
  Pubrec: 0x50,
  // [MQTT-3.6.1-1] PUBREL's fixed header flags are 0b0010.
  Pubrel: 0x62,
  Pubcomp: 0x70,
} as const
export type AckType = (typeof AckType)[keyof typeof AckType]

/**
 * [MQTT-3.4.2.1] A reason code of 0x00 with no properties may be omitted (MQTT 5); MQTT 3.1.1
 * acks never carry one.
 */
export function encodeAck(type: AckType, packetId: number, reasonCode: number, v5: boolean): Buffer {
  if (!v5 || reasonCode === 0) {
    const buf = Buffer.allocUnsafe(4)
    buf[0] = type
    buf[1] = 2
    buf[2] = packetId >> 8
    buf[3] = packetId & 0xff
    return buf
  }
  // Reason code and an empty property section, as mqtt-packet writes it (§3.4.2.2.1 allows either).
  const buf = Buffer.allocUnsafe(6)
  buf[0] = type
  buf[1] = 4
  buf[2] = packetId >> 8
  buf[3] = packetId & 0xff
  buf[4] = reasonCode
  buf[5] = 0
  return buf
}

export const PINGRESP = Buffer.from([0xd0, 0x00])
