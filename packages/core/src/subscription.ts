import { parseSharedFilter } from '@fluxmq/topic'
import type { QoS } from './message.js'
import type { Session } from './session.js'
import type { SubscriptionOptions } from './storage.js'

/** One session's subscription to one filter, as the router and the session both see it. */
export class Subscription {
  /** `$share/<group>/` prefix stripped: what the trie matches. */
  readonly topicFilter: string
  /** Share name for `$share/<group>/…`, undefined for an ordinary subscription. */
  readonly group: string | undefined
  options!: SubscriptionOptions
  /** Shared by every delivery through this subscription alone, so no array per message. */
  ids: readonly number[] | undefined

  constructor(
    readonly session: Session,
    options: SubscriptionOptions,
  ) {
    const shared = parseSharedFilter(options.filter)
    this.topicFilter = shared?.filter ?? options.filter
    this.group = shared?.group
    this.update(options)
  }

  get qos(): QoS {
    return this.options.qos
  }

  /** A repeated SUBSCRIBE to the same filter replaces the options in place [MQTT-3.8.4-3]. */
  update(options: SubscriptionOptions): void {
    this.options = options
    this.ids = options.subscriptionId === undefined ? undefined : Object.freeze([options.subscriptionId])
  }
}
