import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import { describe, expect, it } from 'vitest'
import { fromWireMessage, fromWireSessionState, toWireMessage, toWireSessionState } from './convert.js'
import { TransportErrorCode } from './errors.js'
import { MessageSchema } from './gen/fluxmq/cluster/v1/message_pb.js'
import { InflightState, SessionStateSchema } from './gen/fluxmq/cluster/v1/session_pb.js'
import { message } from './test-support/nodes.js'

const session = {
  session: { clientId: 'c', protocol: 'mqtt3' as const, expiryInterval: 0xffffffff },
  subscriptions: [],
  inflight: [{ deliveryId: 0x10001, message: message('t'), qos: 1 as const, retain: false, state: 'delivered' as const }],
  incomingQos2: [],
  releasedQos2: [],
  offline: [],
}

describe('wire conversion', () => {
  it('keeps a message with no optional fields free of keys it did not have', () => {
    const { publisherId: _, ...bare } = message('t', '', { qos: 0 })
    const back = fromWireMessage(fromBinary(MessageSchema, toBinary(MessageSchema, toWireMessage(bare))))
    expect(back).toStrictEqual(bare)
  })

  it('refuses values the core cannot hold', () => {
    expect(() => fromWireMessage(create(MessageSchema, { topic: 't', qos: 3 }))).toThrow(expect.objectContaining({ code: TransportErrorCode.Protocol }))
    const wire = toWireSessionState(session, 1)
    expect(fromWireSessionState(wire, []).transferred).toStrictEqual(session)
    const unknownState = create(SessionStateSchema, { ...wire, inflight: wire.inflight.map((i) => ({ ...i, state: InflightState.UNSPECIFIED })) })
    expect(() => fromWireSessionState(unknownState, [])).toThrow(/inflight state 0/)
    expect(() => fromWireSessionState(wire, [message('extra')])).toThrow(/1 offline messages of 0/)
  })
})
