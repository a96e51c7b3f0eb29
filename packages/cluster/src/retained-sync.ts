import type { Logger, Message } from '@fluxmq/core'
import type { RetainedIndex } from '@fluxmq/cluster-etcd'
import type { PeerSet } from '@fluxmq/cluster-transport'

/**
 * Retained messages in etcd (`retained/<topic>`, hybrid: inline up to the threshold, else an index
 * entry naming this node as the holder), so that a node joining later, or starting again on an
 * empty store, gets the retained messages set before it joined. Live retained publishes reach
 * every node with the publish itself (see EtcdCluster.forward); this is the durable copy.
 * The payloads this node holds for index entries are kept here to answer peers' fetches.
 */
export class RetainedSync {
  /** Topic → the retained message above the threshold that this node published last. */
  private readonly held = new Map<string, Message>()

  constructor(
    private readonly index: RetainedIndex,
    private readonly options: { readonly nodeId: string; readonly thresholdBytes: number; readonly peers: PeerSet; readonly logger: Logger },
  ) {}

  /** Writes a retained publish of this node to etcd (an empty payload clears the topic). */
  record(message: Message): Promise<void> {
    if (message.payload.length > this.options.thresholdBytes) this.held.set(message.topic, message)
    else this.held.delete(message.topic)
    return this.index.set(message)
  }

  /** A payload this node holds for an index entry; undefined when another node published the topic since. */
  fetch(topic: string): Message | undefined {
    const entry = this.index.get(topic)
    if (entry === undefined || entry.kind !== 'indexed' || entry.holder !== this.options.nodeId) return undefined
    return this.held.get(topic)
  }

  /**
   * Hands every retained message of the cluster to `deliver` (the local broker's deliverLocal,
   * which stores it): inline ones from etcd, indexed ones fetched from their holder. A holder that
   * cannot answer is logged and skipped. Resolves when all were handed over.
   */
  async load(deliver: (message: Message) => void): Promise<number> {
    let loaded = 0
    const fetches: Promise<void>[] = []
    for (const [topic, entry] of this.index.entries) {
      if (entry.kind === 'inline') {
        deliver(entry.message)
        loaded++
        continue
      }
      const peer = entry.holder === this.options.nodeId ? undefined : this.options.peers.get(entry.holder)
      if (peer === undefined) {
        this.options.logger.warn({ topic, holder: entry.holder }, 'retained payload holder is not a peer, message not loaded')
        continue
      }
      fetches.push(
        peer.fetchPayload({ kind: 'retained', key: topic }).then(
          (message) => {
            if (message === undefined) return
            deliver(message)
            loaded++
          },
          (err: unknown) => this.options.logger.warn({ err, topic, holder: entry.holder }, 'retained payload fetch failed, message not loaded'),
        ),
      )
    }
    await Promise.all(fetches)
    return loaded
  }
}
