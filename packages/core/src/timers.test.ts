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

  it('removes cancelled timers at once, at any position, keeping the heap order', () => {
    const q = new TimerQueue()
    const random = rng(11)
    const fired: number[] = []
    const live = new Set<number>()
    const timers = Array.from({ length: 500 }, (_, i) => {
      const at = Math.floor(random() * 10_000)
      live.add(i)
      return { i, at, timer: q.add(at, () => fired.push(at)) }
    })
    for (const t of timers) {
      if (random() < 0.6) {
        t.timer.cancel()
        t.timer.cancel()
        live.delete(t.i)
      }
    }
    expect(q.size).toBe(live.size)
    q.runDue(10_000)
    expect(fired).toEqual(timers.filter((t) => live.has(t.i)).map((t) => t.at).sort((a, b) => a - b))
  })
})
