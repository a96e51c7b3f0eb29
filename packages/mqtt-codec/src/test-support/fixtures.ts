import type { Packet } from 'mqtt-packet'
import { parser as referenceParser } from 'mqtt-packet'
import type { ProtocolVersion } from '../protocol.js'

const v5 = (version: ProtocolVersion) => version === 5

export function connectPacket(version: ProtocolVersion): Packet {
  return {
    cmd: 'connect',
    protocolId: version === 3 ? 'MQIsdp' : 'MQTT',
    protocolVersion: version,
    clean: false,
    keepalive: 30,
    clientId: 'client-é€😀',
    username: 'user',
    password: Buffer.from('secret'),
    will: {
      topic: 'last/will',
      payload: Buffer.from([0, 1, 2, 255]),
      qos: 1,
      retain: true,
      ...(v5(version)
        ? {
            properties: {
              willDelayInterval: 10,
              payloadFormatIndicator: true,
              messageExpiryInterval: 3600,
              contentType: 'text/plain',
              responseTopic: 'reply/here',
              correlationData: Buffer.from('corr'),
              userProperties: { a: 'b', multi: ['1', '2'] },
            },
          }
        : {}),
    },
    ...(v5(version)
      ? {
          properties: {
            sessionExpiryInterval: 120,
            receiveMaximum: 10,
            maximumPacketSize: 65536,
            topicAliasMaximum: 5,
            requestResponseInformation: true,
            requestProblemInformation: false,
            userProperties: { k: 'v' },
            authenticationMethod: 'SCRAM',
            authenticationData: Buffer.from('data'),
          },
        }
      : {}),
  } as Packet
}

/** Every packet type a Client sends, after CONNECT, with properties where the version has them. */
export function clientPacketsAfterConnect(version: ProtocolVersion): Packet[] {
  const reason = (code: number) => (v5(version) ? { reasonCode: code } : {})
  const props = (properties: object) => (v5(version) ? { properties } : {})
  const packets: Packet[] = [
    { cmd: 'publish', topic: 'a/b', payload: Buffer.from('hello'), qos: 0, retain: false, dup: false },
    {
      cmd: 'publish',
      topic: 'sensors/é/😀',
      payload: Buffer.alloc(300, 7),
      qos: 1,
      retain: true,
      dup: true,
      messageId: 42,
      ...props({
        payloadFormatIndicator: false,
        messageExpiryInterval: 60,
        topicAlias: 3,
        responseTopic: 'resp',
        correlationData: Buffer.from([9, 9]),
        userProperties: { x: 'y', dup: ['1', '2', '3'] },
        contentType: 'application/json',
      }),
    },
    { cmd: 'publish', topic: 'q2', payload: Buffer.alloc(0), qos: 2, retain: false, dup: false, messageId: 65535 },
    { cmd: 'puback', messageId: 42, ...reason(0x10), ...props({ reasonString: 'ok', userProperties: { p: 'q' } }) },
    { cmd: 'pubrec', messageId: 7, ...reason(0x80) },
    { cmd: 'pubrel', messageId: 7, ...reason(0x92), ...props({ reasonString: 'missing' }) },
    { cmd: 'pubcomp', messageId: 7, ...reason(0) },
    {
      cmd: 'subscribe',
      messageId: 5,
      subscriptions: [
        { topic: 'a/+/c', qos: 1, ...(v5(version) ? { nl: true, rap: false, rh: 2 } : {}) },
        { topic: '$share/g/x/#', qos: 2, ...(v5(version) ? { nl: false, rap: true, rh: 0 } : {}) },
      ],
      ...props({ subscriptionIdentifier: 12345, userProperties: { 'consumer-group': 'workers' } }),
    },
    { cmd: 'unsubscribe', messageId: 6, unsubscriptions: ['a/+/c', 'b/#'], ...props({ userProperties: { u: 'v' } }) },
    { cmd: 'pingreq' },
  ] as Packet[]
  if (v5(version)) {
    packets.push({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'SCRAM', authenticationData: Buffer.from('step'), reasonString: 'go', userProperties: { a: 'b' } } })
    packets.push({ cmd: 'disconnect', reasonCode: 0x04, properties: { sessionExpiryInterval: 0, reasonString: 'bye', userProperties: { r: 's' } } })
  } else {
    packets.push({ cmd: 'disconnect' })
  }
  return packets
}

/** Every packet type a Server sends, for encode-side round trips. */
export function serverPackets(version: ProtocolVersion): Packet[] {
  const props = (properties: object) => (v5(version) ? { properties } : {})
  const packets = [
    v5(version)
      ? {
          cmd: 'connack',
          sessionPresent: true,
          reasonCode: 0,
          properties: {
            sessionExpiryInterval: 10,
            receiveMaximum: 100,
            maximumQoS: 1,
            retainAvailable: true,
            maximumPacketSize: 1024,
            assignedClientIdentifier: 'auto-1',
            topicAliasMaximum: 64,
            reasonString: 'welcome',
            userProperties: { a: 'b' },
            wildcardSubscriptionAvailable: true,
            subscriptionIdentifiersAvailable: true,
            sharedSubscriptionAvailable: false,
            serverKeepAlive: 20,
            responseInformation: 'resp/',
            serverReference: 'other',
            authenticationMethod: 'SCRAM',
            authenticationData: Buffer.from('x'),
          },
        }
      : { cmd: 'connack', sessionPresent: false, returnCode: 5 },
    {
      cmd: 'publish',
      topic: 'out/1',
      payload: Buffer.from('p'),
      qos: 2,
      retain: false,
      dup: false,
      messageId: 9,
      ...props({ subscriptionIdentifier: [1, 268435455], userProperties: { q: 'r' } }),
    },
    { cmd: 'puback', messageId: 1, ...(v5(version) ? { reasonCode: 0x97, properties: { reasonString: 'quota' } } : {}) },
    { cmd: 'suback', messageId: 5, granted: v5(version) ? [0, 1, 2, 0x80, 0x8f, 0xa2] : [0, 1, 2, 0x80], ...props({ reasonString: 'partial' }) },
    { cmd: 'unsuback', messageId: 6, ...(v5(version) ? { granted: [0, 0x11], properties: { userProperties: { a: 'b' } } } : {}) },
    { cmd: 'pingresp' },
  ] as Packet[]
  if (v5(version)) {
    packets.push({ cmd: 'disconnect', reasonCode: 0x8e, properties: { reasonString: 'taken over', serverReference: 'n2' } })
    packets.push({ cmd: 'auth', reasonCode: 0x00, properties: { authenticationMethod: 'SCRAM' } })
  }
  return packets
}

/** What mqtt-packet's own parser makes of `bytes`, the reference the codec must agree with. */
export function referenceParse(bytes: Buffer, version: ProtocolVersion): Packet[] {
  const out: Packet[] = []
  const reference = referenceParser({ protocolVersion: version })
  reference.on('packet', (packet) => out.push(packet))
  reference.on('error', (error: Error) => {
    throw error
  })
  reference.parse(bytes)
  return out
}
