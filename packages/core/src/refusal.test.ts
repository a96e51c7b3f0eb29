import { describe, expect, it } from 'vitest'
import { isRefusal, Refusal } from './refusal.js'

describe('Refusal', () => {
  it('tells refusals from the two ways a publish is accepted', () => {
    expect(isRefusal('accepted')).toBe(false)
    expect(isRefusal('no_subscribers')).toBe(false)
    for (const refusal of Object.values(Refusal)) expect(isRefusal(refusal)).toBe(true)
  })

  it('gives every refusal its own value', () => {
    const values = Object.values(Refusal)
    expect(new Set(values).size).toBe(values.length)
  })
})
