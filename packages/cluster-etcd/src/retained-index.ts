import type { Logger, Message } from '@fluxmq/core'
import type { Namespace } from 'etcd3'
import { ClusterError, ClusterErrorCode, describeCause } from './errors.js'
import { RETAINED, parseLeafKey, retainedKey } from './keyspace.js'
import { Listeners } from './listeners.js'
import { type StoredMessage, decodeMessageRecord, encodeMessageRecord } from './message-record.js'
import { WatchedPrefix } from './watched-prefix.js'

export interface RetainedIndexOptions {
  readonly nodeId: string
  readonly logger: Logger
  /** `cluster.etcd.hybrid_retained_size_threshold`: payloads up to this many bytes are kept inline. */
  readonly thresholdBytes: number
}

export type RetainedChange =
  | { readonly type: 'set'; readonly topic: string; readonly stored: StoredMessage }
  | { readonly type: 'cleared'; readonly topic: string }

/**
 * The cluster's retained messages, `retained/<topic>`: small payloads inline, larger ones as an
 * index entry naming the node that holds the payload (this node, when it sets one). Not leased:
 * a retained message outlives the node that published it. Every node keeps a watch-fed copy, so
 * a new subscription is matched against it locally; etcd's last write wins between nodes.
 */
export class RetainedIndex {
  private readonly messages = new Map<string, StoredMessage>()
  private readonly changed = new Listeners<[change: RetainedChange]>()
  private readonly watch: WatchedPrefix
  private readonly log: Logger

  constructor(
    private readonly etcd: Namespace,
    private readonly options: RetainedIndexOptions,
  ) {
    this.log = options.logger.child({ nodeId: options.nodeId })
    this.watch = new WatchedPrefix(etcd, RETAINED, { put: (key, entry) => this.onPut(key, entry.value), delete: (key) => this.onDelete(key) }, this.log)
  }

  async start(): Promise<void> {
    await this.watch.start()
  }

  async stop(): Promise<void> {
    await this.watch.stop()
  }

  /** Retains `message` cluster-wide; an empty payload clears the topic everywhere (MQTT's rule). */
  async set(message: Message): Promise<void> {
    const key = retainedKey(message.topic)
    try {
      if (message.payload.length === 0) await this.etcd.delete().key(key).exec()
      else await this.etcd.put(key).value(encodeMessageRecord(message, this.options.thresholdBytes, this.options.nodeId)).exec()
    } catch (error) {
      throw new ClusterError(ClusterErrorCode.EtcdUnavailable, `retained ${message.topic} not written: ${describeCause(error)}`, { cause: error })
    }
  }

  get(topic: string): StoredMessage | undefined {
    return this.messages.get(topic)
  }

  /** Every retained message by topic, as of the last watch event. */
  get entries(): ReadonlyMap<string, StoredMessage> {
    return this.messages
  }

  onChange(listener: (change: RetainedChange) => void): () => void {
    return this.changed.add(listener)
  }

  private onPut(key: string, value: Buffer): void {
    const topic = parseLeafKey(RETAINED, key)
    let stored: StoredMessage
    try {
      if (topic === undefined) throw new ClusterError(ClusterErrorCode.BadRecord, `${key} is not a retained key`)
      stored = decodeMessageRecord(value, key).stored
    } catch (error) {
      this.log.warn({ key, err: describeCause(error) }, 'ignoring a retained record of an unknown shape')
      return
    }
    this.messages.set(topic, stored)
    this.changed.emit({ type: 'set', topic, stored })
  }

  private onDelete(key: string): void {
    const topic = parseLeafKey(RETAINED, key)
    if (topic === undefined || !this.messages.delete(topic)) return
    this.changed.emit({ type: 'cleared', topic })
  }
}
