import { ReasonCode } from '@fluxmq/mqtt-codec'
import type { Message, PublishResult } from '@fluxmq/core'
import { isValidUtf8MqttString } from '@fluxmq/mqtt-codec'
import type { IPublishPacket } from '@fluxmq/mqtt-codec'
import { AckType, encodeAck } from '../acks.js'
import type { Connection } from '../connection.js'
import { MqttErrorCode, MqttProtocolError } from '../errors.js'
import { expiresAtFrom, messagePropertiesFromWire } from '../properties.js'
import { pubackReason } from '../reason-codes.js'

export function handlePublish(connection: Connection, packet: IPublishPacket): void {
  const options = connection.options
  const qos = packet.qos
  const props = packet.properties
  // [MQTT-3.2.2-11] no PUBLISH above the Maximum QoS we advertised: DISCONNECT 0x9B.
  if (qos > options.maxQos) throw new MqttProtocolError(MqttErrorCode.QoSNotSupported, ReasonCode.QoSNotSupported, `QoS ${qos} above maximum ${options.maxQos}`)
  // [MQTT-3.2.2-14] no RETAIN when Retain Available is 0: DISCONNECT 0x9A.
  if (packet.retain && !options.retainAvailable) throw new MqttProtocolError(MqttErrorCode.RetainNotSupported, ReasonCode.RetainNotSupported, 'retain not available')
  // The codec has already refused wildcards and NUL in the topic (0x90, [MQTT-3.3.2-2]), an empty
  // topic without alias and a subscription identifier from a client ([MQTT-3.3.4-6]); what is
  // left is the alias mapping, which lives with the connection.
  const alias = props?.topicAlias
  const topic = alias === undefined ? packet.topic : connection.inboundAliases.resolve(packet.topic, alias)

  const packetId = packet.messageId ?? 0
  if (qos === 1) {
    connection.inboundQos1 += 1
    // [MQTT-3.3.4-7] QoS 1 is held to our Receive Maximum by flow control rather than DISCONNECT
    // 0x93: reading stops while that many PUBACKs are owed (they wait for storage) and resumes
    // as they go out. Clients that ignore Receive Maximum (mqtt.js 5) keep working, and what we
    // take in beyond the window is bounded by the socket read in progress.
    if (connection.inboundQos1 >= connection.options.receiveMaximum) connection.holdInbound()
  } else if (qos === 2 && !connection.inboundQos2.has(packetId)) {
    connection.inboundQos2.add(packetId)
    receiveMaximumCheck(connection)
  }

  const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload
  // Payload Format Indicator 1 promises UTF-8 (§3.3.2.3.2): QoS 1/2 get 0x99 in the ack, QoS 0
  // has no ack to carry it, so the connection is closed with 0x99.
  if (props?.payloadFormatIndicator === true && !isValidUtf8MqttString(payload)) {
    if (qos === 0) throw new MqttProtocolError(MqttErrorCode.PayloadFormatInvalid, ReasonCode.PayloadFormatInvalid, 'payload is not UTF-8')
    return acknowledge(connection, qos, packetId, ReasonCode.PayloadFormatInvalid)
  }

  const now = connection.now()
  const message: Message = {
    topic,
    payload,
    qos,
    retain: packet.retain,
    properties: messagePropertiesFromWire(props),
    publishedAt: now,
    publisherId: connection.clientId,
    // Always present (undefined = never expires) so every message has the same shape.
    expiresAt: expiresAtFrom(props?.messageExpiryInterval, now),
    // Declared up front: the link fills it on first delivery, and adding a property to an object
    // literal later costs a hidden-class change and an out-of-object property store per message.
    wire: undefined,
  }
  const session = connection.session!
  // [MQTT-4.3.3-10] the core routes the first receipt only; a resend with a remembered id is only acknowledged.
  const result = qos === 2 ? connection.broker.publishExactlyOnce(session, packetId, message) : connection.broker.publish(session, message)
  afterDurable(connection, result, qos, packetId)
  connection.afterPublish(result.backpressure)
}

/**
 * [MQTT-3.3.4-7] more QoS 2 PUBLISHes without PUBCOMP than our Receive Maximum: DISCONNECT 0x93.
 * Reading is not paused for QoS 2: the client's PUBRELs, which free the window, must still be read.
 */
function receiveMaximumCheck(connection: Connection): void {
  const unacknowledged = connection.inboundQos2.size
  if (unacknowledged > connection.options.receiveMaximum) {
    throw new MqttProtocolError(MqttErrorCode.ReceiveMaximumExceeded, ReasonCode.ReceiveMaximumExceeded, `${unacknowledged} unacknowledged PUBLISH packets, receive maximum ${connection.options.receiveMaximum}`)
  }
}

/** PUBACK / PUBREC only once what the core stored is durable (offline queues, retained). */
function afterDurable(connection: Connection, result: PublishResult, qos: 0 | 1 | 2, packetId: number): void {
  const durable = result.durable
  if (durable === undefined) {
    if (qos !== 0) acknowledge(connection, qos, packetId, pubackReason(result.reason))
    return
  }
  durable.then(
    () => {
      if (qos !== 0) acknowledge(connection, qos, packetId, pubackReason(result.reason))
    },
    (err: unknown) => {
      connection.log.error({ err }, 'publish not made durable (storage, or a node it was forwarded to); closing the connection')
      connection.terminate(ReasonCode.UnspecifiedError, 'storage failure')
    },
  )
}

function acknowledge(connection: Connection, qos: 1 | 2, packetId: number, reason: ReasonCode): void {
  if (qos === 1) {
    connection.inboundQos1 -= 1
    if (connection.inboundQos1 < connection.options.receiveMaximum) connection.releaseInbound()
    // 3.1.1 has no reason codes: an unauthorized publish is acknowledged and dropped [MQTT-3.3.5-2].
    if (connection.open) connection.send(encodeAck(AckType.Puback, packetId, reason, connection.v5))
    return
  }
  // A PUBREC >= 0x80 ends the QoS 2 flow: the id no longer counts against Receive Maximum (§3.3.4).
  if (reason >= 0x80) connection.inboundQos2.delete(packetId)
  if (connection.open) connection.send(encodeAck(AckType.Pubrec, packetId, reason, connection.v5))
}
