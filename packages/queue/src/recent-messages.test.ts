import { describe, expect, it } from 'vitest'
import { RecentMessages } from './recent-messages.js'
import { message } from './test-support/harness.js'

describe('RecentMessages', () => {
  it('keeps the newest messages within its byte bound and forgets truncated ones', () => {
    // Each message is 10 bytes: topic "t" and a 9-byte payload.
    const recent = new RecentMessages(30)
    for (let offset = 0; offset < 5; offset++) recent.add(offset, message('t', `payload-${offset}`))
    expect([0, 1, 2, 3, 4].map((offset) => recent.get(offset)?.payload.toString())).toEqual([undefined, undefined, 'payload-2', 'payload-3', 'payload-4'])
    recent.dropBelow(4)
    expect([2, 3, 4].map((offset) => recent.get(offset) !== undefined)).toEqual([false, false, true])
    recent.add(5, message('t', 'payload-5'))
    recent.add(6, message('t', 'payload-6'))
    expect([4, 5, 6].map((offset) => recent.get(offset) !== undefined)).toEqual([true, true, true])
  })

  it('keeps offsets across the ring growing and wrapping, and starts over after a gap', () => {
    const recent = new RecentMessages(1000)
    for (let offset = 0; offset < 12; offset++) recent.add(offset, message('t', `${offset}`))
    recent.dropBelow(10)
    // 10 and 11 sit at the end of the 16 slots; 12..40 wrap around and make it grow twice.
    for (let offset = 12; offset <= 40; offset++) recent.add(offset, message('t', `${offset}`))
    expect([9, 10, 25, 40, 41].map((offset) => recent.get(offset)?.payload.toString())).toEqual([undefined, '10', '25', '40', undefined])
    recent.add(50, message('t', '50'))
    expect([40, 50].map((offset) => recent.get(offset)?.payload.toString())).toEqual([undefined, '50'])
  })

  it('keeps nothing with a bound of 0', () => {
    const recent = new RecentMessages(0)
    recent.add(0, message('t', 'x'))
    expect(recent.get(0)).toBeUndefined()
  })
})
