// Core types <-> wire messages. Every decode checks what the core's types promise (QoS 0..2, known
// enum values) and throws a Protocol error otherwise, so a peer's bad field never reaches the core.
import { create } from '@bufbuild/protobuf'
import type {
  InflightRecord,
  Message,
  MessageProperties,
  QoS,
  SessionProtocol,
  SessionRecord,
  SubscriptionOptions,
  TransferredSession,
} from '@fluxmq/core'
import {
  UserPropertySchema,
  type Message as WireMessage,
  type MessageProperties as WireMessageProperties,
  type UserProperty as WireUserProperty,
} from './gen/fluxmq/cluster/v1/message_pb.js'
import {
  InflightSchema,
  InflightState,
  SessionProtocol as WireSessionProtocol,
  SessionSchema,
  SessionStateSchema,
  SubscriptionSchema,
  WillSchema,
  type Inflight as WireInflight,
  type Session as WireSession,
  type SessionState,
  type Subscription as WireSubscription,
} from './gen/fluxmq/cluster/v1/session_pb.js'
import { TransportError, TransportErrorCode } from './errors.js'

function invalid(what: string): TransportError {
  return new TransportError(TransportErrorCode.Protocol, `invalid ${what}`)
}

function asBuffer(bytes: Uint8Array): Buffer {
  // A view, not a copy: decoded fields are slices of the received frame.
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

function qosOf(value: number, what: string): QoS {
  if (value === 0 || value === 1 || value === 2) return value
  throw invalid(`${what} QoS ${value}`)
}

function toWireUserProperties(properties: readonly (readonly [string, string])[] | undefined): WireUserProperty[] {
  return (properties ?? []).map(([name, value]) => create(UserPropertySchema, { name, value }))
}

function fromWireUserProperties(properties: readonly WireUserProperty[]): (readonly [string, string])[] {
  return properties.map((p) => [p.name, p.value] as const)
}

// The per-message hot path (every forwarded message) builds wire objects as literals: create()
// walks the schema to fill defaults, which costs more than the encoding of a small message.
function toWireProperties(p: MessageProperties): WireMessageProperties | undefined {
  if (
    p.payloadFormatIndicator === undefined &&
    p.contentType === undefined &&
    p.responseTopic === undefined &&
    p.correlationData === undefined &&
    p.userProperties === undefined
  ) {
    return undefined
  }
  return {
    $typeName: 'fluxmq.cluster.v1.MessageProperties',
    payloadFormatIndicator: p.payloadFormatIndicator,
    contentType: p.contentType,
    responseTopic: p.responseTopic,
    correlationData: p.correlationData,
    userProperties: toWireUserProperties(p.userProperties),
  }
}

function fromWireProperties(w: WireMessageProperties | undefined): MessageProperties {
  if (w === undefined) return {}
  const p: { -readonly [K in keyof MessageProperties]: MessageProperties[K] } = {}
  if (w.payloadFormatIndicator !== undefined) p.payloadFormatIndicator = w.payloadFormatIndicator
  if (w.contentType !== undefined) p.contentType = w.contentType
  if (w.responseTopic !== undefined) p.responseTopic = w.responseTopic
  if (w.correlationData !== undefined) p.correlationData = asBuffer(w.correlationData)
  if (w.userProperties.length > 0) p.userProperties = fromWireUserProperties(w.userProperties)
  return p
}

export function toWireMessage(m: Message): WireMessage {
  return {
    $typeName: 'fluxmq.cluster.v1.Message',
    topic: m.topic,
    payload: m.payload,
    qos: m.qos,
    retain: m.retain,
    properties: toWireProperties(m.properties),
    expiresAt: BigInt(m.expiresAt ?? 0),
    publishedAt: BigInt(m.publishedAt),
    publisherId: m.publisherId ?? '',
  }
}

export function fromWireMessage(w: WireMessage): Message {
  const message: { -readonly [K in keyof Message]: Message[K] } = {
    topic: w.topic,
    payload: asBuffer(w.payload),
    qos: qosOf(w.qos, 'message'),
    retain: w.retain,
    properties: fromWireProperties(w.properties),
    publishedAt: Number(w.publishedAt),
  }
  if (w.expiresAt !== 0n) message.expiresAt = Number(w.expiresAt)
  if (w.publisherId !== '') message.publisherId = w.publisherId
  return message
}

const protocols: Record<SessionProtocol, WireSessionProtocol> = {
  mqtt3: WireSessionProtocol.MQTT3,
  mqtt5: WireSessionProtocol.MQTT5,
  amqp: WireSessionProtocol.AMQP,
}

function fromWireProtocol(p: WireSessionProtocol): SessionProtocol {
  switch (p) {
    case WireSessionProtocol.MQTT3:
      return 'mqtt3'
    case WireSessionProtocol.MQTT5:
      return 'mqtt5'
    case WireSessionProtocol.AMQP:
      return 'amqp'
    default:
      throw invalid(`session protocol ${p}`)
  }
}

function toWireSession(s: SessionRecord): WireSession {
  return create(SessionSchema, {
    clientId: s.clientId,
    protocol: protocols[s.protocol],
    expiryInterval: s.expiryInterval,
    disconnectedAt: s.disconnectedAt === undefined ? undefined : BigInt(s.disconnectedAt),
    will: s.will === undefined ? undefined : create(WillSchema, { message: toWireMessage(s.will.message), delayInterval: s.will.delayInterval }),
  })
}

function fromWireSession(w: WireSession | undefined): SessionRecord {
  if (w === undefined) throw invalid('session state without a session')
  const record: { -readonly [K in keyof SessionRecord]: SessionRecord[K] } = {
    clientId: w.clientId,
    protocol: fromWireProtocol(w.protocol),
    expiryInterval: w.expiryInterval,
  }
  if (w.disconnectedAt !== undefined) record.disconnectedAt = Number(w.disconnectedAt)
  if (w.will !== undefined) {
    if (w.will.message === undefined) throw invalid('will without a message')
    record.will = { message: fromWireMessage(w.will.message), delayInterval: w.will.delayInterval }
  }
  return record
}

function toWireSubscription(s: SubscriptionOptions): WireSubscription {
  return create(SubscriptionSchema, {
    filter: s.filter,
    qos: s.qos,
    noLocal: s.noLocal,
    retainAsPublished: s.retainAsPublished,
    retainHandling: s.retainHandling,
    subscriptionId: s.subscriptionId,
    userProperties: toWireUserProperties(s.userProperties),
  })
}

function fromWireSubscription(w: WireSubscription): SubscriptionOptions {
  const { retainHandling } = w
  if (retainHandling !== 0 && retainHandling !== 1 && retainHandling !== 2) throw invalid(`retain handling ${retainHandling}`)
  const sub: { -readonly [K in keyof SubscriptionOptions]: SubscriptionOptions[K] } = {
    filter: w.filter,
    qos: qosOf(w.qos, 'subscription'),
    noLocal: w.noLocal,
    retainAsPublished: w.retainAsPublished,
    retainHandling,
  }
  if (w.subscriptionId !== undefined) sub.subscriptionId = w.subscriptionId
  if (w.userProperties.length > 0) sub.userProperties = fromWireUserProperties(w.userProperties)
  return sub
}

// The wire's `packet_id` (uint32) carries the core's delivery id, and PUBLISH / RELEASE its states
// 'delivered' / 'received' (the fields keep their earlier names). A node of the version before reads
// a packet id there, which this one takes as a delivery id with that id as its low 16 bits; the
// other way round (new to old) an unsettled delivery's id does not fit a packet id.
function toWireInflight(r: InflightRecord): WireInflight {
  return create(InflightSchema, {
    deliveryId: r.deliveryId,
    message: toWireMessage(r.message),
    qos: r.qos,
    retain: r.retain,
    subscriptionIds: r.subscriptionIds === undefined ? [] : [...r.subscriptionIds],
    state: r.state === 'delivered' ? InflightState.DELIVERED : InflightState.RECEIVED,
  })
}

function fromWireInflight(w: WireInflight): InflightRecord {
  if (w.message === undefined) throw invalid(`inflight ${w.deliveryId} without a message`)
  const qos = qosOf(w.qos, 'inflight')
  if (qos === 0) throw invalid(`inflight ${w.deliveryId} at QoS 0`)
  let state: InflightRecord['state']
  if (w.state === InflightState.DELIVERED) state = 'delivered'
  else if (w.state === InflightState.RECEIVED) state = 'received'
  else throw invalid(`inflight state ${w.state}`)
  const record: { -readonly [K in keyof InflightRecord]: InflightRecord[K] } = {
    deliveryId: w.deliveryId,
    message: fromWireMessage(w.message),
    qos,
    retain: w.retain,
    state,
  }
  if (w.subscriptionIds.length > 0) record.subscriptionIds = w.subscriptionIds
  return record
}

/** The session's state without its offline queue, which travels in chunks after it. */
export function toWireSessionState(t: TransferredSession, epoch: number): SessionState {
  return create(SessionStateSchema, {
    session: toWireSession(t.session),
    subscriptions: t.subscriptions.map(toWireSubscription),
    inflight: t.inflight.map(toWireInflight),
    incomingQos2: [...t.incomingQos2],
    releasedQos2: [...(t.releasedQos2 ?? [])],
    epoch: BigInt(epoch),
    offlineCount: t.offline.length,
  })
}

/** Reassembles a TransferredSession from its state and the offline messages that followed it. */
export function fromWireSessionState(w: SessionState, offline: readonly Message[]): { transferred: TransferredSession; epoch: number } {
  if (offline.length !== w.offlineCount) throw invalid(`takeover stream: ${offline.length} offline messages of ${w.offlineCount}`)
  const transferred: TransferredSession = {
    session: fromWireSession(w.session),
    subscriptions: w.subscriptions.map(fromWireSubscription),
    inflight: w.inflight.map(fromWireInflight),
    incomingQos2: w.incomingQos2,
    releasedQos2: w.releasedQos2,
    offline,
  }
  return { transferred, epoch: Number(w.epoch) }
}
