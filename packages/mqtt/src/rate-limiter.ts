import type { Clock } from '@fluxmq/core'

/**
 * A token bucket holding one second's worth of tokens: `perSecond` events are allowed per second
 * on average, with bursts up to `perSecond`. 0 disables the limit.
 */
export class RateLimiter {
  private tokens: number
  private refilledAt: number

  constructor(
    private readonly perSecond: number,
    private readonly clock: Clock,
  ) {
    this.tokens = perSecond
    this.refilledAt = clock.now()
  }

  /** Takes one token; false when the bucket is empty. */
  take(): boolean {
    if (this.perSecond === 0) return true
    this.refill()
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }

  /** Milliseconds until the next token is available (0 when one is available now). */
  waitMs(): number {
    if (this.perSecond === 0) return 0
    this.refill()
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) * 1000) / this.perSecond)
  }

  private refill(): void {
    const now = this.clock.now()
    const elapsed = now - this.refilledAt
    if (elapsed <= 0) return
    this.refilledAt = now
    this.tokens = Math.min(this.perSecond, this.tokens + (elapsed * this.perSecond) / 1000)
  }
}
