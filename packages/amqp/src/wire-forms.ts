import { keepWireCache, wireCache } from '@fluxmq/core'
import type { Delivery, WireCache } from '@fluxmq/core'
import { toAmqpMessage } from './message-map.js'
import { encodeMessage } from './message-encoder.js'

/**
 * The AMQP encodings of one message, shared by every AMQP link it goes to: one per QoS (the
 * header's `durable`). A message that expires is encoded per delivery, since its `ttl` is what
 * remains at that moment.
 */
class AmqpForms implements WireCache {
  next: WireCache | undefined = undefined
  atMostOnce: Buffer | undefined
  atLeastOnce: Buffer | undefined
}

/** The encoded bare message (header, properties, application properties, body) for one delivery. */
export function encodedMessage(delivery: Delivery, now: number): Buffer {
  const message = delivery.message
  if (message.expiresAt !== undefined) return encodeMessage(toAmqpMessage(delivery, now))
  let forms = wireCache(message, AmqpForms)
  if (forms === undefined) keepWireCache(message, (forms = new AmqpForms()))
  if (delivery.qos === 0) return (forms.atMostOnce ??= encodeMessage(toAmqpMessage(delivery, now)))
  return (forms.atLeastOnce ??= encodeMessage(toAmqpMessage(delivery, now)))
}
