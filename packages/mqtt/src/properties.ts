import type { MessageProperties, UserProperty } from '@fluxmq/core'

/** mqtt-packet's shape of MQTT 5 user properties: repeated names become arrays. */
export type WireUserProperties = Record<string, string | string[]>

/** The MQTT 5 message properties a PUBLISH (or a will) carries in mqtt-packet's shape. */
export interface WireMessageProperties {
  payloadFormatIndicator?: boolean
  contentType?: string
  responseTopic?: string
  correlationData?: Buffer
  userProperties?: WireUserProperties
}

export function userPropertiesFromWire(wire: WireUserProperties | undefined): UserProperty[] | undefined {
  if (wire === undefined) return undefined
  const out: UserProperty[] = []
  for (const name of Object.keys(wire)) {
    const value = wire[name]
    if (Array.isArray(value)) for (const v of value) out.push([name, v])
    else if (value !== undefined) out.push([name, value])
  }
  return out.length === 0 ? undefined : out
}

/**
 * mqtt-packet encodes user properties from an object, so pairs with the same name are grouped;
 * the order of distinct names is kept, the interleaving of repeated names is not.
 */
export function userPropertiesToWire(props: readonly UserProperty[] | undefined): WireUserProperties | undefined {
  if (props === undefined || props.length === 0) return undefined
  const out: WireUserProperties = {}
  for (const [name, value] of props) {
    const prev = out[name]
    if (prev === undefined) out[name] = value
    else if (Array.isArray(prev)) prev.push(value)
    else out[name] = [prev, value]
  }
  return out
}

/** Shared by every message that carries no properties (all 3.1.1 traffic): never mutated. */
const NO_PROPERTIES: MessageProperties = Object.freeze({})

/** Message properties from an incoming PUBLISH or will; only fields the client set. */
export function messagePropertiesFromWire(wire: WireMessageProperties | undefined): MessageProperties {
  if (wire === undefined) return NO_PROPERTIES
  const props: MessageProperties = {}
  if (wire.payloadFormatIndicator !== undefined) props.payloadFormatIndicator = wire.payloadFormatIndicator
  if (wire.contentType !== undefined) props.contentType = wire.contentType
  if (wire.responseTopic !== undefined) props.responseTopic = wire.responseTopic
  if (wire.correlationData !== undefined) props.correlationData = wire.correlationData
  const user = userPropertiesFromWire(wire.userProperties)
  if (user !== undefined) props.userProperties = user
  return props
}

export function messagePropertiesToWire(props: MessageProperties): WireMessageProperties {
  const wire: WireMessageProperties = {}
  if (props.payloadFormatIndicator !== undefined) wire.payloadFormatIndicator = props.payloadFormatIndicator
  if (props.contentType !== undefined) wire.contentType = props.contentType
  if (props.responseTopic !== undefined) wire.responseTopic = props.responseTopic
  if (props.correlationData !== undefined) wire.correlationData = props.correlationData
  const user = userPropertiesToWire(props.userProperties)
  if (user !== undefined) wire.userProperties = user
  return wire
}

/** Absolute expiry from a Message Expiry Interval in seconds (MQTT 5 §3.3.2.3.3). */
export const expiresAtFrom = (intervalSeconds: number | undefined, now: number): number | undefined =>
  intervalSeconds === undefined ? undefined : now + intervalSeconds * 1000

/**
 * [MQTT-3.3.2-6] The Message Expiry Interval sent on is the received value minus the time the
 * message waited in the server. Rounded up so a message that is still alive never reads 0.
 */
export const remainingExpirySeconds = (expiresAt: number, now: number): number =>
  Math.max(1, Math.ceil((expiresAt - now) / 1000))
