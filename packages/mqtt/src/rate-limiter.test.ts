import { describe, expect, it } from 'vitest'
import { RateLimiter } from './rate-limiter.js'

describe('RateLimiter', () => {
  it('allows a burst of perSecond, then refills with time', () => {
    let now = 1000
    const limiter = new RateLimiter(3, { now: () => now })
    expect([limiter.take(), limiter.take(), limiter.take(), limiter.take()]).toEqual([true, true, true, false])
    expect(limiter.waitMs()).toBe(334)
    now += 334
    expect(limiter.take()).toBe(true)
    expect(limiter.take()).toBe(false)
    now += 10_000
    expect([limiter.take(), limiter.take(), limiter.take(), limiter.take()]).toEqual([true, true, true, false])
  })

  it('0 means unlimited', () => {
    const limiter = new RateLimiter(0, { now: () => 0 })
    for (let i = 0; i < 1000; i++) expect(limiter.take()).toBe(true)
    expect(limiter.waitMs()).toBe(0)
  })
})
