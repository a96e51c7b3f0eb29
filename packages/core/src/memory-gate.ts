import type { Logger } from './ports.js'

/** A publisher a protocol front holds while the process is above limits.max_buffered_bytes. */
export interface MemoryWaiter {
  /** The process drained: read from the publisher again (MQTT), give its credit back (AMQP). */
  memoryAvailable(): void
}

/**
 * limits.max_buffered_bytes, the one policy of both protocol fronts: after a publish above the
 * bound the publisher is held (an MQTT connection is not read, an AMQP sender gets no credit back),
 * and every held publisher is let go together once the process is down to three quarters of the
 * bound, so that they do not flap at the edge. The gate has no timer (the core has none): while it
 * is `holding`, the front calls `release` on a short poll of its own.
 */
export class MemoryGate<W extends MemoryWaiter> {
  /** Times a publisher was held. */
  pauses = 0
  private readonly waiting = new Set<W>()

  constructor(
    /** 0: no bound. */
    private readonly maxBytes: number,
    /** What the bound counts: the core's queued deliveries and the bytes the sockets have not accepted. */
    private readonly bufferedBytes: () => number,
    private readonly log: Logger,
    /** The warning logged when the first publisher is held. */
    private readonly heldMessage: string,
  ) {}

  get holding(): boolean {
    return this.waiting.size > 0
  }

  /** After a publish: true when the process is above the bound, and `waiter` is held until `release`. */
  hold(waiter: W): boolean {
    if (this.maxBytes <= 0) return false
    const bufferedBytes = this.bufferedBytes()
    if (bufferedBytes <= this.maxBytes) return false
    if (this.waiting.size === 0) this.log.warn({ bufferedBytes, maxBufferedBytes: this.maxBytes }, this.heldMessage)
    this.waiting.add(waiter)
    this.pauses++
    return true
  }

  /** The waiter went away (its connection or link closed): nothing to release. */
  forget(waiter: W): void {
    this.waiting.delete(waiter)
  }

  /**
   * Lets every held publisher go once the process is down to three quarters of the bound, or at
   * once with `all` (the front shuts down). True when none is held any more.
   */
  release(all: boolean): boolean {
    if (!all && this.bufferedBytes() * 4 > this.maxBytes * 3) return false
    const waiting = [...this.waiting]
    this.waiting.clear()
    for (const waiter of waiting) waiter.memoryAvailable()
    return true
  }
}
