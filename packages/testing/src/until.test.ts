import { describe, expect, it } from 'vitest'
import { until } from './until.js'

describe('until', () => {
  it('resolves once a synchronous or asynchronous check holds', async () => {
    let polls = 0
    await until(() => ++polls === 3, 'the third poll')
    expect(polls).toBe(3)
    let reads = 0
    await until(async () => Promise.resolve(++reads >= 2), 'the second read')
    expect(reads).toBe(2)
  })

  it('rejects naming what it waited for once the time is up', async () => {
    const started = Date.now()
    await expect(until(() => false, 'a state that never comes', 100)).rejects.toThrow('timed out after 100 ms waiting for a state that never comes')
    expect(Date.now() - started).toBeGreaterThanOrEqual(100)
  })
})
