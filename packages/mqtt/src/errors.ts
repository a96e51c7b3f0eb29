import { FluxError } from '@fluxmq/core'
import { ReasonCode } from '@fluxmq/mqtt-codec'

/**
 * Stable error codes of the MQTT adapter (the codec's framing errors are FLUXMQ_ERR_MQTT_* of
 * @fluxmq/mqtt-codec). Never reused: a code that goes away stays reserved.
 */
export const MqttErrorCode = {
  ProtocolError: 'FLUXMQ_ERR_MQTT_CONN_PROTOCOL',
  TopicAliasInvalid: 'FLUXMQ_ERR_MQTT_CONN_TOPIC_ALIAS',
  ReceiveMaximumExceeded: 'FLUXMQ_ERR_MQTT_CONN_RECEIVE_MAXIMUM',
  QoSNotSupported: 'FLUXMQ_ERR_MQTT_CONN_QOS_NOT_SUPPORTED',
  RetainNotSupported: 'FLUXMQ_ERR_MQTT_CONN_RETAIN_NOT_SUPPORTED',
  PayloadFormatInvalid: 'FLUXMQ_ERR_MQTT_CONN_PAYLOAD_FORMAT',
  SubscriptionIdsNotSupported: 'FLUXMQ_ERR_MQTT_CONN_SUBSCRIPTION_IDS',
  ListenerFailed: 'FLUXMQ_ERR_MQTT_LISTEN',
} as const
export type MqttErrorCode = (typeof MqttErrorCode)[keyof typeof MqttErrorCode]

/**
 * A client broke the protocol. Handlers throw it; the connection catches it at the packet
 * boundary and closes with `reasonCode` (MQTT 5 DISCONNECT, or a plain close for 3.1.1).
 */
export class MqttProtocolError extends FluxError<MqttErrorCode> {
  constructor(
    code: MqttErrorCode,
    readonly reasonCode: ReasonCode,
    message: string,
  ) {
    super(code, message)
  }
}

export const protocolError = (message: string): MqttProtocolError =>
  new MqttProtocolError(MqttErrorCode.ProtocolError, ReasonCode.ProtocolError, message)

/** A listener could not be started (address in use, bad certificate, …). */
export class MqttListenError extends FluxError<typeof MqttErrorCode.ListenerFailed> {
  constructor(message: string, options?: { cause?: unknown }) {
    super(MqttErrorCode.ListenerFailed, message, options)
  }
}
