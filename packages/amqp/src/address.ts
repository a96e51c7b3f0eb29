import { validateTopicFilter, validateTopicName } from '@fluxmq/topic'
import { Condition } from './conditions.js'
import type { AmqpError } from './conditions.js'

/** What a link address names (SPEC §5): a topic or filter, or a durable queue. */
export type Address =
  | { readonly kind: 'topic'; readonly name: string }
  | { readonly kind: 'queue'; readonly name: string; readonly deadLetter: boolean }

const QUEUE_PREFIX = '$queue/'
const DLQ_PREFIX = '$dlq/'
/** `$` forms a receiver may name besides the queues: shared subscriptions and the broker's own topics. */
const RECEIVER_DOLLAR_PREFIXES = ['$share/', '$SYS/']

function unknownForm(address: string, why: string): AmqpError {
  return { condition: Condition.NotFound, description: `address ${JSON.stringify(address)} ${why}` }
}

function invalid(address: string, why: string): AmqpError {
  return { condition: Condition.InvalidField, description: `address ${JSON.stringify(address)} ${why}` }
}

/**
 * A sender's target address, or a message's `to` on an anonymous link: an MQTT topic name, or
 * `$queue/<name>[/<routing-key>]`. Other `$` names are refused: clients do not write the broker's
 * own namespaces.
 */
export function targetAddress(address: string): Address | AmqpError {
  if (address.startsWith(QUEUE_PREFIX)) {
    if (address.length === QUEUE_PREFIX.length) return invalid(address, 'names no queue')
    return { kind: 'queue', name: address, deadLetter: false }
  }
  if (address.startsWith('$')) return unknownForm(address, 'is not a topic or $queue/<name>')
  const error = validateTopicName(address)
  if (error !== undefined) return invalid(address, `is not a topic name: it ${error.message}`)
  return { kind: 'topic', name: address }
}

/**
 * A receiver's source address: an MQTT topic filter (wildcards `+` and `#`, `$share/<group>/…`,
 * `$SYS/…`), `$queue/<name>` or `$dlq/<name>`.
 */
export function sourceAddress(address: string): Address | AmqpError {
  if (address.startsWith(QUEUE_PREFIX) || address.startsWith(DLQ_PREFIX)) {
    const prefix = address.startsWith(QUEUE_PREFIX) ? QUEUE_PREFIX : DLQ_PREFIX
    if (address.length === prefix.length) return invalid(address, 'names no queue')
    return { kind: 'queue', name: address, deadLetter: prefix === DLQ_PREFIX }
  }
  if (address.startsWith('$') && !RECEIVER_DOLLAR_PREFIXES.some((prefix) => address.startsWith(prefix))) {
    return unknownForm(address, 'is not a topic filter, $share/…, $SYS/…, $queue/<name> or $dlq/<name>')
  }
  const error = validateTopicFilter(address)
  if (error !== undefined) return invalid(address, `is not a topic filter: it ${error.message}`)
  return { kind: 'topic', name: address }
}

export function isAddressError(value: Address | AmqpError): value is AmqpError {
  return 'condition' in value
}
