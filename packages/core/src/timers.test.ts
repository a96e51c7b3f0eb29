import { describe, expect, it } from 'vitest'
import { rng } from './test-support/harness.js'
import { TimerQueue } from './timers.js'

describe('TimerQueue', () => {
  it('fires due timers in time order and skips cancelled ones', () => {
    const q = new TimerQueue()
    const fired: number[] = []
    const random = rng(7)
    const times = Array.from({ length: 200 }, () => Math.floor(random() * 1000))
    const timers = times.map((t) => q.add(t, () => fired.push(t)))
    timers[0]?.cancel()
    q.runDue(499)
    expect(fired).toEqual(times.filter((t, i) => i !== 0 && t <= 499).sort((a, b) => a - b))
    fired.length = 0
    q.runDue(1000)
    expect(fired).toEqual(times.filter((t, i) => i !== 0 && t > 499).sort((a, b) => a - b))
    expect(q.size).toBe(0)
  })

  it('runs timers added while firing when they are already due', () => {
    const q = new TimerQueue()
    const fired: string[] = []
    q.add(10, (now) => {
      fired.push('first')
      q.add(now, () => fired.push('chained'))
      q.add(now + 1, () => fired.push('later'))
    })
    q.runDue(10)
    expect(fired).toEqual(['first', 'chained'])
  })
})
