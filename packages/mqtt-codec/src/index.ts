export type {
  Packet,
  PacketCmd,
  QoS,
  UserProperties,
  IPacket,
  IConnectPacket,
  IConnackPacket,
  IPublishPacket,
  IPubackPacket,
  IPubrecPacket,
  IPubrelPacket,
  IPubcompPacket,
  ISubscription,
  ISubscribePacket,
  ISubackPacket,
  IUnsubscribePacket,
  IUnsubackPacket,
  IPingreqPacket,
  IPingrespPacket,
  IDisconnectPacket,
  IAuthPacket,
} from 'mqtt-packet'
export type { ProtocolVersion } from './protocol.js'
export { ReasonCode } from './reason-code.js'
export { CodecError, CodecErrorCode, type CodecErrorDetails } from './errors.js'
export { MqttParser, type ParserOptions } from './parser.js'
export { encode } from './encode.js'
export { encodePublish, stampPacketId, type PublishFields, type PublishProperties } from './publish-encode.js'
export { isValidUtf8MqttString, isWellFormedUtf8 } from './utf8.js'
