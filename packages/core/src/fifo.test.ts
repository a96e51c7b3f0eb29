import { describe, expect, it } from 'vitest'
import { Fifo } from './fifo.js'

describe('Fifo', () => {
  it('keeps order across compaction', () => {
    const f = new Fifo<number>()
    let next = 0
    let expected = 0
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 100; i++) f.push(next++)
      for (let i = 0; i < 70; i++) expect(f.shift()).toBe(expected++)
    }
    expect(f.length).toBe(next - expected)
    expect([...f][0]).toBe(expected)
    f.clear()
    expect(f.shift()).toBeUndefined()
    expect(f.length).toBe(0)
  })
})
