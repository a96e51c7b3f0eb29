import { randomUUID } from 'node:crypto'
import { ReasonCode } from '@fluxmq/mqtt-codec'
import type { ConnectRequest, Message, QoS, WillRecord } from '@fluxmq/core'
import { isValidUtf8MqttString } from '@fluxmq/mqtt-codec'
import type { IConnackPacket, IConnectPacket, ProtocolVersion } from '@fluxmq/mqtt-codec'
import { validateTopicName } from '@fluxmq/topic'
import type { Connection } from '../connection.js'
import { expiresAtFrom, messagePropertiesFromWire } from '../properties.js'
import { reasonOf } from '../reason-codes.js'
import { OutboundTopicAliases } from '../topic-alias.js'
import { startAuthentication } from './auth.js'

/** What the CONNECT asked for, kept while authentication runs. */
export interface PendingConnect {
  readonly packet: IConnectPacket
  /** The client's id, or the one we assigned [MQTT-3.1.3-6]. */
  readonly clientId: string
  readonly assignedClientId: boolean
  readonly keepAlive: number
  readonly receiveMaximum: number
  readonly will: WillRecord | undefined
}

/**
 * MQTT 3.1.1 CONNACK return codes for the core's reason codes. A reason without one closes the
 * connection without CONNACK [MQTT-3.2.2-6] (3.1.1).
 */
const V3_RETURN_CODES: ReadonlyMap<number, number> = new Map([
  [ReasonCode.UnsupportedProtocolVersion, 1],
  [ReasonCode.ClientIdentifierNotValid, 2],
  [ReasonCode.ServerUnavailable, 3],
  [ReasonCode.ServerBusy, 3],
  [ReasonCode.ServerShuttingDown, 3],
  [ReasonCode.ConnectionRateExceeded, 3],
  [ReasonCode.BadUserNameOrPassword, 4],
  [ReasonCode.NotAuthorized, 5],
  [ReasonCode.Banned, 5],
])

/** The CONNACK that refuses a CONNECT, or undefined when 3.1.1 has no return code for the reason (close silently). */
export function connackRefusal(version: ProtocolVersion, reason: ReasonCode, reasonString: string | undefined): IConnackPacket | undefined {
  if (version === 5) {
    // [MQTT-3.2.2-6] a refusing CONNACK has Session Present 0; [MQTT-3.2.2-7] the connection then closes.
    const packet: IConnackPacket = { cmd: 'connack', sessionPresent: false, reasonCode: reason }
    if (reasonString !== undefined) packet.properties = { reasonString }
    return packet
  }
  const returnCode = V3_RETURN_CODES.get(reason)
  return returnCode === undefined ? undefined : { cmd: 'connack', sessionPresent: false, returnCode }
}

export function handleConnect(connection: Connection, packet: IConnectPacket): void {
  const version = packet.protocolVersion ?? 4
  connection.protocolVersion = version
  connection.v5 = version === 5
  connection.beginAuthentication()
  const props = packet.properties
  // Known first: even a refusing CONNACK must respect it [MQTT-3.1.2-24].
  if (props?.maximumPacketSize !== undefined) connection.clientMaximumPacketSize = props.maximumPacketSize
  if (connection.refusal !== undefined) return connection.refuse(connection.refusal, 'connection rate exceeded')

  const options = connection.options
  let clientId = packet.clientId
  let assigned = false
  if (clientId.length === 0) {
    // [MQTT-3.1.3-8] 3.1.1: an empty client id needs clean_session=1 (MQTT 3.1 never allowed one).
    if (version !== 5 && (!packet.clean || version === 3)) return connection.refuse(ReasonCode.ClientIdentifierNotValid)
    // [MQTT-3.1.3-6] [MQTT-3.2.2-16] we assign a unique id and (MQTT 5) tell the client.
    clientId = `fluxmq-${randomUUID()}`
    assigned = true
  }
  connection.clientId = clientId
  connection.log = connection.log.child({ clientId })

  const will = buildWill(connection, packet, clientId)
  if (will === null) return
  connection.hasWill = will !== undefined

  let keepAlive = packet.keepalive ?? 0
  // broker.server_keep_alive is a maximum, as Mosquitto's max_keepalive: a longer Keep Alive, or
  // none (0), is replaced by it. Only MQTT 5 can be told so, with Server Keep Alive
  // [MQTT-3.2.2-21]; a 3.1.1 client cannot, and is refused as Mosquitto refuses it (return code 2).
  const max = options.serverKeepAlive
  if (max > 0 && (keepAlive === 0 || keepAlive > max)) {
    if (version !== 5) return connection.refuse(ReasonCode.ClientIdentifierNotValid, `keep alive ${keepAlive} s is above the server's maximum ${max} s`)
    keepAlive = max
  }

  connection.connectSessionExpiry = props?.sessionExpiryInterval ?? 0
  if (version === 5) connection.outboundAliases = new OutboundTopicAliases(props?.topicAliasMaximum ?? 0)

  const pending: PendingConnect = {
    packet,
    clientId,
    assignedClientId: assigned,
    keepAlive,
    // 3.1.1 has no Receive Maximum: its clients get the window we advertise to MQTT 5 clients.
    receiveMaximum: version === 5 ? (props?.receiveMaximum ?? 65535) : options.receiveMaximum,
    will,
  }
  startAuthentication(connection, pending)
}

/** The will as the core keeps it; undefined without a will; null when the CONNECT was refused for it. */
function buildWill(connection: Connection, packet: IConnectPacket, clientId: string): WillRecord | undefined | null {
  const will = packet.will
  if (will === undefined) return undefined
  const options = connection.options
  const qos: QoS = will.qos ?? 0
  const topicError = validateTopicName(will.topic)
  // The Will Topic is a topic name like any other: no wildcards (§3.1.3.3, [MQTT-3.3.2-2]).
  if (topicError !== undefined) {
    connection.refuse(ReasonCode.TopicNameInvalid, `will topic ${topicError.message}`)
    return null
  }
  // [MQTT-3.2.2-12] a will QoS above our Maximum QoS refuses the CONNECT with 0x9B.
  if (qos > options.maxQos) {
    connection.refuse(ReasonCode.QoSNotSupported, `will QoS ${qos} above maximum ${options.maxQos}`)
    return null
  }
  // [MQTT-3.2.2-13] a retained will without Retain Available refuses the CONNECT with 0x9A.
  if (will.retain === true && !options.retainAvailable) {
    connection.refuse(ReasonCode.RetainNotSupported, 'retain not available')
    return null
  }
  const payload = typeof will.payload === 'string' ? Buffer.from(will.payload) : will.payload
  // Payload Format Indicator 1: the will payload must be UTF-8, 0x99 otherwise (§3.1.3.2.3).
  if (will.properties?.payloadFormatIndicator === true && !isValidUtf8MqttString(payload)) {
    connection.refuse(ReasonCode.PayloadFormatInvalid, 'will payload is not UTF-8')
    return null
  }
  const now = connection.now()
  const message: Message = {
    topic: will.topic,
    payload,
    qos,
    retain: will.retain === true,
    properties: messagePropertiesFromWire(will.properties),
    // The core re-bases this on the moment the will is published (its lifetime starts then).
    expiresAt: expiresAtFrom(will.properties?.messageExpiryInterval, now),
    publishedAt: now,
    publisherId: clientId,
  }
  return { message, delayInterval: will.properties?.willDelayInterval ?? 0 }
}

/** Authentication succeeded: claim the session in the core, then CONNACK and activate. */
export async function completeConnect(connection: Connection, pending: PendingConnect, username: string | undefined, authData: Buffer | undefined): Promise<void> {
  const packet = pending.packet
  const version = connection.protocolVersion
  const v5 = version === 5
  connection.username = username
  const request: ConnectRequest = {
    clientId: pending.clientId,
    protocol: v5 ? 'mqtt5' : 'mqtt3',
    cleanStart: packet.clean !== false,
    // 3.1.1 clean_session=0 keeps the session: "never expires" (the core applies session.default_expiry).
    sessionExpiryInterval: v5 ? connection.connectSessionExpiry : packet.clean === false ? 0xffffffff : 0,
    receiveMaximum: pending.receiveMaximum,
    ...(username === undefined ? {} : { username }),
    ...(connection.remoteAddress === undefined ? {} : { remoteAddress: connection.remoteAddress }),
    ...(pending.will === undefined ? {} : { will: pending.will }),
  }
  const result = await connection.broker.connect(request, connection.link)
  if (!connection.open) {
    // The socket went away while the core was attaching the session: hand it straight back.
    if (result.ok) connection.broker.disconnect(result.session, { publishWill: true })
    return
  }
  if (!result.ok) return connection.refuse(reasonOf(result.reason), result.reasonString)

  const options = connection.options
  const connack: IConnackPacket = { cmd: 'connack', sessionPresent: result.sessionPresent }
  if (v5) {
    connack.reasonCode = ReasonCode.Success
    const props: NonNullable<IConnackPacket['properties']> = {}
    if (options.receiveMaximum < 65535) props.receiveMaximum = options.receiveMaximum
    // [MQTT-3.2.2-9] Maximum QoS is sent when below 2.
    if (options.maxQos < 2) props.maximumQoS = options.maxQos
    if (!options.retainAvailable) props.retainAvailable = false
    props.maximumPacketSize = options.maxPacketSize
    if (options.topicAliasMaximum > 0) props.topicAliasMaximum = options.topicAliasMaximum
    // [MQTT-3.2.2-16] the id we assigned for an empty client id.
    if (pending.assignedClientId) props.assignedClientIdentifier = pending.clientId
    // [MQTT-3.2.2-21] the keep alive the client must use when we override it.
    if (pending.keepAlive !== (packet.keepalive ?? 0)) props.serverKeepAlive = pending.keepAlive
    if (result.sessionExpiryInterval !== connection.connectSessionExpiry) props.sessionExpiryInterval = result.sessionExpiryInterval
    if (!options.wildcardAvailable) props.wildcardSubscriptionAvailable = false
    if (!options.sharedAvailable) props.sharedSubscriptionAvailable = false
    if (!options.subscriptionIdsAvailable) props.subscriptionIdentifiersAvailable = false
    if (connection.authMethod !== undefined) {
      props.authenticationMethod = connection.authMethod
      if (authData !== undefined) props.authenticationData = authData
    }
    connack.properties = props
  } else {
    connack.returnCode = 0
  }
  connection.sendPacket(connack)
  connection.connackSent = true
  connection.log.info({ sessionPresent: result.sessionPresent, protocol: request.protocol, keepAlive: pending.keepAlive }, 'client connected')
  connection.connected(result.session, pending.keepAlive)
  // After CONNACK: inflight resends, PUBREL and the offline queue follow it on the wire, then
  // whatever the client sent while it was being authenticated.
  connection.broker.activate(result.session)
  connection.runHeldBack()
}
