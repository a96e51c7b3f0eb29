export type BreakerState = 'closed' | 'open' | 'half-open'

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the breaker (default 5). */
  readonly failureThreshold?: number
  /** How long it stays open before one probe may try again (default 1000 ms). */
  readonly openMs?: number
}

/**
 * Per-peer circuit breaker. Closed: calls go through and consecutive failures are counted; at the
 * threshold it opens. Open: calls fail fast for `openMs`, then it is half-open: the next attempt
 * is the probe, whose success closes it and whose failure opens it again at once. Pure state; the
 * owner asks `state` before an attempt and reports its result.
 */
export class CircuitBreaker {
  readonly failureThreshold: number
  readonly openMs: number
  private failures = 0
  private openedAt: number | undefined

  constructor(
    options: CircuitBreakerOptions = {},
    private readonly now: () => number = Date.now,
  ) {
    this.failureThreshold = options.failureThreshold ?? 5
    this.openMs = options.openMs ?? 1000
  }

  get state(): BreakerState {
    if (this.openedAt === undefined) return 'closed'
    return this.now() - this.openedAt >= this.openMs ? 'half-open' : 'open'
  }

  get consecutiveFailures(): number {
    return this.failures
  }

  /** Milliseconds until an open breaker turns half-open; 0 when it is not open. */
  remainingOpenMs(): number {
    if (this.openedAt === undefined) return 0
    return Math.max(0, this.openedAt + this.openMs - this.now())
  }

  recordSuccess(): void {
    this.failures = 0
    this.openedAt = undefined
  }

  /** Returns true when this failure opened the breaker (from closed, or a failed probe). */
  recordFailure(): boolean {
    this.failures += 1
    const state = this.state
    if (state === 'half-open' || (state === 'closed' && this.failures >= this.failureThreshold)) {
      this.openedAt = this.now()
      return true
    }
    return false
  }
}
