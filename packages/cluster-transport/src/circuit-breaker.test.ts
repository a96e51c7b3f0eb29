import { describe, expect, it } from 'vitest'
import { CircuitBreaker } from './circuit-breaker.js'

function breakerAt(options: { failureThreshold: number; openMs: number }): { breaker: CircuitBreaker; advance(ms: number): void } {
  let now = 0
  return { breaker: new CircuitBreaker(options, () => now), advance: (ms) => (now += ms) }
}

describe('CircuitBreaker', () => {
  it('opens at the threshold of consecutive failures; a success in between resets the count', () => {
    const { breaker } = breakerAt({ failureThreshold: 3, openMs: 100 })
    expect(breaker.recordFailure()).toBe(false)
    expect(breaker.recordFailure()).toBe(false)
    breaker.recordSuccess()
    expect(breaker.recordFailure()).toBe(false)
    expect(breaker.recordFailure()).toBe(false)
    expect(breaker.state).toBe('closed')
    expect(breaker.recordFailure()).toBe(true)
    expect(breaker.state).toBe('open')
  })

  it('turns half-open after openMs; a failed probe reopens it at once, a successful one closes it', () => {
    const { breaker, advance } = breakerAt({ failureThreshold: 1, openMs: 100 })
    breaker.recordFailure()
    advance(60)
    expect(breaker.state).toBe('open')
    expect(breaker.remainingOpenMs()).toBe(40)
    advance(40)
    expect(breaker.state).toBe('half-open')
    expect(breaker.recordFailure()).toBe(true)
    expect(breaker.state).toBe('open')
    advance(100)
    breaker.recordSuccess()
    expect(breaker.state).toBe('closed')
    expect(breaker.consecutiveFailures).toBe(0)
  })
})
