import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Message } from '@fluxmq/core'
import type { QueueDelivery } from '../delivery.js'
import { QueueEngine, type QueueEngineOptions } from '../engine.js'

export const T0 = 1_700_000_000_000

export function message(topic: string, payload: string, extra: Partial<Message> = {}): Message {
  return { topic, payload: Buffer.from(payload), qos: 1, retain: false, properties: {}, publishedAt: T0, ...extra }
}

/**
 * An engine on real SQLite in a temp directory, with a hand-driven clock and commits only when
 * the test calls commit() (the schedule is a no-op), so every step is deterministic.
 */
export class Harness {
  readonly dir = mkdtempSync(join(tmpdir(), 'fluxmq-queue-'))
  now = T0
  readonly clock = { now: () => this.now }
  readonly deliveries: QueueDelivery[] = []
  engine: QueueEngine
  onDeliver: (delivery: QueueDelivery) => void = () => undefined

  constructor(private readonly options: Partial<QueueEngineOptions> = {}) {
    this.engine = this.open()
  }

  open(extra: Partial<QueueEngineOptions> = {}): QueueEngine {
    return QueueEngine.open({
      dir: this.dir,
      clock: this.clock,
      schedule: () => undefined,
      deliver: (delivery) => {
        this.deliveries.push(delivery)
        this.onDeliver(delivery)
      },
      ...this.options,
      ...extra,
    })
  }

  /** Closes and opens the engine again on the same directory (a clean restart). */
  restart(extra: Partial<QueueEngineOptions> = {}): QueueEngine {
    this.engine.close()
    this.deliveries.length = 0
    this.engine = this.open(extra)
    return this.engine
  }

  commit(): void {
    this.engine.flush()
  }

  /** Appends `count` messages `<prefix>0..` to `queue` and commits them. */
  fill(queue: string, count: number, prefix = 'm'): void {
    for (let i = 0; i < count; i++) this.engine.append(queue, message(`t/${prefix}${i}`, `${prefix}${i}`))
    this.commit()
  }

  /** Payloads delivered to `consumerId` (all consumers when omitted), in order, and forgets them. */
  take(consumerId?: string): string[] {
    const taken = this.deliveries.filter((delivery) => consumerId === undefined || delivery.consumerId === consumerId)
    const rest = this.deliveries.filter((delivery) => !taken.includes(delivery))
    this.deliveries.splice(0, this.deliveries.length, ...rest)
    return taken.map((delivery) => delivery.message.payload.toString())
  }

  /** Removes and returns the deliveries to `consumerId`. */
  takeDeliveries(consumerId: string): QueueDelivery[] {
    const taken = this.deliveries.filter((delivery) => delivery.consumerId === consumerId)
    const rest = this.deliveries.filter((delivery) => !taken.includes(delivery))
    this.deliveries.splice(0, this.deliveries.length, ...rest)
    return taken
  }

  dispose(): void {
    try {
      this.engine.close()
    } finally {
      rmSync(this.dir, { recursive: true, force: true })
    }
  }
}

export function userProperty(delivery: QueueDelivery, name: string): string | undefined {
  return delivery.message.properties.userProperties?.find(([key]) => key === name)?.[1]
}
