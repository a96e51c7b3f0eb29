import { describe, expect, it } from 'vitest'
import { DedupTable, DedupWindow, type BatchOutcome } from './dedup-window.js'

const accepted: Promise<BatchOutcome> = Promise.resolve(undefined)

describe('DedupWindow', () => {
  it('answers a sequence inside the window with its recorded outcome and anything above as new', async () => {
    const window = new DedupWindow(4)
    const refused = Promise.resolve({ code: 'FLUXMQ_ERR_X', message: 'no' })
    window.record(1, accepted)
    window.record(2, refused)
    expect(window.lookup(1)).toBe(accepted)
    expect(await window.lookup(2)).toEqual({ code: 'FLUXMQ_ERR_X', message: 'no' })
    expect(window.lookup(3)).toBe('new')
  })

  it('does not know sequences older than the window or never seen below the highest', () => {
    const window = new DedupWindow(4)
    window.record(10, accepted)
    for (let s = 12; s <= 15; s += 1) window.record(s, accepted)
    expect(window.lookup(11)).toBe('unknown')
    expect(window.lookup(10)).toBe('unknown')
    expect(window.lookup(12)).toBe(accepted)
    expect(window.lookup(16)).toBe('new')
  })
})

describe('DedupTable', () => {
  it('keeps one window per sender epoch and forgets the oldest epochs beyond the bound', () => {
    const table = new DedupTable(4, 2)
    const first = table.window('a', 1n)
    first.record(1, accepted)
    expect(table.window('a', 1n)).toBe(first)
    expect(table.window('b', 1n)).not.toBe(first)
    table.window('a', 2n)
    table.window('a', 3n)
    expect(table.window('a', 1n).lookup(1)).toBe('new')
  })
})
