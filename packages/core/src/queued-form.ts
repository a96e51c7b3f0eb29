import type { Message } from './message.js'

/**
 * The form a delivery takes in a session's offline queue. Storage keeps only the Message, and a
 * backend is free to return copies, so nothing beside the Message can say how it was to be
 * delivered. QoS and subscription ids are rebuilt from the subscriptions on the way out; RETAIN
 * cannot be: a retained message sent because of a SUBSCRIBE goes out with RETAIN=1 [MQTT-3.3.1-9]
 * while the same message routed live goes out with RETAIN=0 [MQTT-3.3.1-12]. So the queued
 * Message's own `retain` is the delivery's RETAIN flag.
 *
 * A delivery's RETAIN is never 1 for a message published with 0, so the only form needed besides
 * the message itself is its copy with RETAIN=0. The copy of the message being fanned out is
 * remembered, so every session it is queued for gets the same object: a backend that writes a
 * message once per object (SQLite) writes it once, not once per session.
 */
export class QueuedForms {
  private source: Message | undefined
  private unretained: Message | undefined

  of(message: Message, retain: boolean): Message {
    if (message.retain === retain) return message
    if (this.source !== message || this.unretained === undefined) {
      // The adapter's `wire` cache belongs to the original object.
      const { wire: _wire, ...rest } = message
      this.unretained = { ...rest, retain: false }
      this.source = message
    }
    return this.unretained
  }
}
