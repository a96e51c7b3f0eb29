import { ReasonCode } from '@fluxmq/mqtt-codec'
import { MqttErrorCode, MqttProtocolError } from './errors.js'

/**
 * Topic aliases the client set on its PUBLISHes (MQTT 5 §3.3.2.3.4). Bounded by the Topic Alias
 * Maximum we advertised, so a client cannot grow it past that.
 */
export class InboundTopicAliases {
  /** Created by the first alias: most clients never send one, and an empty Map costs ~200 bytes per connection. */
  private topics: Map<number, string> | undefined

  constructor(private readonly maximum: number) {}

  /** Resolves the topic of a PUBLISH, recording a new alias mapping when it carries one. */
  resolve(topic: string, alias: number | undefined): string {
    // An empty topic without an alias never gets here: the codec refuses it.
    if (alias === undefined) return topic
    // [MQTT-3.3.2-8] [MQTT-3.3.2-9] 0 and values above the Topic Alias Maximum we advertised are errors.
    if (alias === 0 || alias > this.maximum) {
      throw new MqttProtocolError(MqttErrorCode.TopicAliasInvalid, ReasonCode.TopicAliasInvalid, `topic alias ${alias} outside 1..${this.maximum}`)
    }
    if (topic.length > 0) {
      this.topics ??= new Map()
      this.topics.set(alias, topic)
      return topic
    }
    const known = this.topics?.get(alias)
    // An alias-only PUBLISH for an alias this connection never set is a protocol error (§3.3.4);
    // mappings never outlive the connection [MQTT-3.3.2-7].
    if (known === undefined) throw new MqttProtocolError(MqttErrorCode.ProtocolError, ReasonCode.ProtocolError, `unknown topic alias ${alias}`)
    return known
  }
}

/**
 * Topic aliases we assign on PUBLISHes to the client, up to the client's Topic Alias Maximum
 * [MQTT-3.3.2-11]. Aliases are handed out first come, first served and kept for the life of the
 * connection: hot topics get their alias early, and a stable mapping lets encoded forms be shared
 * between subscribers that got the same alias for the same topic.
 */
export class OutboundTopicAliases {
  private readonly aliases = new Map<string, number>()

  constructor(private readonly maximum: number) {}

  /**
   * The alias for an outgoing PUBLISH, as one number so the delivery path allocates nothing:
   * 0 = no alias (disabled or all taken), n > 0 = known alias (send an empty topic),
   * -n = alias n assigned now (send the topic together with the alias).
   */
  choose(topic: string): number {
    if (this.maximum === 0) return 0
    const existing = this.aliases.get(topic)
    if (existing !== undefined) return existing
    if (this.aliases.size >= this.maximum) return 0
    const alias = this.aliases.size + 1
    this.aliases.set(topic, alias)
    return -alias
  }

  /** Undoes a fresh assignment (choice < 0) whose PUBLISH was never sent (too large for the client). */
  forget(topic: string, choice: number): void {
    if (choice < 0 && this.aliases.get(topic) === -choice && -choice === this.aliases.size) this.aliases.delete(topic)
  }
}
