import type { Packet } from 'mqtt-packet'
import { malformed, protocolViolation } from './errors.js'

/** Where a property section sits; the will's properties are a section of their own. */
export type PropertySection = 'CONNECT' | 'will' | 'SUBSCRIBE' | 'UNSUBSCRIBE' | 'DISCONNECT' | 'AUTH'

// MQTT 5 §3.1.2.11, §3.1.3.2, §3.8.2.1, §3.10.2.1, §3.14.2.2, §3.15.2.2: what each section may hold.
const ALLOWED: Record<PropertySection, ReadonlySet<string>> = {
  CONNECT: new Set([
    'sessionExpiryInterval',
    'receiveMaximum',
    'maximumPacketSize',
    'topicAliasMaximum',
    'requestResponseInformation',
    'requestProblemInformation',
    'userProperties',
    'authenticationMethod',
    'authenticationData',
  ]),
  will: new Set(['willDelayInterval', 'payloadFormatIndicator', 'messageExpiryInterval', 'contentType', 'responseTopic', 'correlationData', 'userProperties']),
  SUBSCRIBE: new Set(['subscriptionIdentifier', 'userProperties']),
  UNSUBSCRIBE: new Set(['userProperties']),
  DISCONNECT: new Set(['sessionExpiryInterval', 'reasonString', 'userProperties', 'serverReference']),
  AUTH: new Set(['authenticationMethod', 'authenticationData', 'reasonString', 'userProperties']),
}

/**
 * Checks a property section mqtt-packet decoded: mqtt-packet accepts any known property in any
 * packet and silently turns repeats into arrays.
 */
export function checkProperties(properties: Record<string, unknown> | undefined, section: PropertySection): void {
  if (properties === undefined) return
  const allowed = ALLOWED[section]
  for (const name in properties) {
    // MQTT 5 §2.2.2.2: an identifier not valid for the packet type makes it a Malformed Packet.
    if (!allowed.has(name)) throw malformed(`${name} is not valid in ${section} properties`)
    const value = properties[name]
    // MQTT 5 §2.2.2.2: only User Property may be repeated.
    if (name !== 'userProperties' && Array.isArray(value)) throw protocolViolation(`${name} appears more than once in ${section} properties`)
    // mqtt-packet reports a truncated integer as -1 and a truncated string as null instead of failing.
    if ((typeof value === 'number' && value < 0) || value === null || value === false && name === 'subscriptionIdentifier') {
      throw malformed(`${name} is truncated in ${section} properties`)
    }
    if (name === 'userProperties' && !isCompleteUserProperties(value)) throw malformed(`a user property is truncated in ${section} properties`)
  }
  // MQTT 5 §3.1.2.11.3 / §3.1.2.11.4: zero is a Protocol Error for these two limits.
  if (properties['receiveMaximum'] === 0) throw protocolViolation('Receive Maximum is 0')
  if (properties['maximumPacketSize'] === 0) throw protocolViolation('Maximum Packet Size is 0')
  // MQTT 5 §3.8.2.1.2: a Subscription Identifier of 0 is a Protocol Error.
  if (properties['subscriptionIdentifier'] === 0) throw protocolViolation('Subscription Identifier is 0')
  // MQTT 5 §3.1.2.11.10: Authentication Data without an Authentication Method is a Protocol Error.
  if (properties['authenticationData'] !== undefined && properties['authenticationMethod'] === undefined) {
    throw protocolViolation('Authentication Data without Authentication Method')
  }
}

function isCompleteUserProperties(value: unknown): boolean {
  const pairs = value as Record<string, unknown>
  for (const key in pairs) {
    const entry = pairs[key]
    if (entry === null || (Array.isArray(entry) && entry.includes(null))) return false
  }
  return true
}

/** Rules mqtt-packet does not enforce on SUBSCRIBE, UNSUBSCRIBE, DISCONNECT and AUTH. */
export function checkDelegatedPacket(packet: Packet): void {
  switch (packet.cmd) {
    case 'subscribe':
      // [MQTT-2.2.1-3] SUBSCRIBE carries a non-zero Packet Identifier.
      if (packet.messageId === 0) throw protocolViolation('SUBSCRIBE packet identifier is 0', 'MQTT-2.2.1-3')
      // [MQTT-3.8.3-3] The payload MUST contain at least one Topic Filter and Subscription Options pair.
      if (packet.subscriptions.length === 0) throw malformed('SUBSCRIBE has no topic filters', 'MQTT-3.8.3-3')
      checkProperties(packet.properties, 'SUBSCRIBE')
      return
    case 'unsubscribe':
      if (packet.messageId === 0) throw protocolViolation('UNSUBSCRIBE packet identifier is 0', 'MQTT-2.2.1-3')
      // [MQTT-3.10.3-2] The payload MUST contain at least one Topic Filter.
      if (packet.unsubscriptions.length === 0) throw malformed('UNSUBSCRIBE has no topic filters', 'MQTT-3.10.3-2')
      checkProperties(packet.properties, 'UNSUBSCRIBE')
      return
    case 'disconnect':
      checkProperties(packet.properties, 'DISCONNECT')
      return
    case 'auth':
      checkProperties(packet.properties, 'AUTH')
      return
    default:
      throw new Error(`checkDelegatedPacket: ${packet.cmd} is not parsed by mqtt-packet`)
  }
}
