import { encode } from '@fluxmq/mqtt-codec'
import { describe, expect, it } from 'vitest'
import { AckType, PINGRESP, encodeAck } from './acks.js'

const cmds = [
  [AckType.Puback, 'puback'],
  [AckType.Pubrec, 'pubrec'],
  [AckType.Pubrel, 'pubrel'],
  [AckType.Pubcomp, 'pubcomp'],
] as const

describe('encodeAck', () => {
  for (const [type, cmd] of cmds) {
    it(`${cmd} is byte-identical to the codec's encode, 3.1.1 and 5.0, with and without reason code`, () => {
      for (const packetId of [1, 255, 256, 0x1234, 65535]) {
        expect(encodeAck(type, packetId, 0, false)).toEqual(encode({ cmd, messageId: packetId }, 4))
        expect(encodeAck(type, packetId, 0, true)).toEqual(encode({ cmd, messageId: packetId, reasonCode: 0 }, 5))
        expect(encodeAck(type, packetId, 0x92, true)).toEqual(encode({ cmd, messageId: packetId, reasonCode: 0x92 }, 5))
        // 3.1.1 acks never carry a reason code.
        expect(encodeAck(type, packetId, 0x87, false)).toEqual(encode({ cmd, messageId: packetId }, 4))
      }
    })
  }

  it('PINGRESP is the codec encoding', () => {
    expect(PINGRESP).toEqual(encode({ cmd: 'pingresp' }, 4))
  })
})
