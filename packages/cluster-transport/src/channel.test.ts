import { describe, expect, it } from 'vitest'
import { Channel } from './channel.js'

describe('Channel', () => {
  it('counts what waits for the reader and tells when the reader took the last of it', async () => {
    const seen: string[] = []
    const channel: Channel<string> = new Channel(() => seen.push(`empty after ${channel.queued}`))
    const reader = channel[Symbol.asyncIterator]()
    channel.push('a')
    channel.push('b')
    expect(channel.queued).toBe(2)
    expect(await reader.next()).toEqual({ done: false, value: 'a' })
    expect(seen).toEqual([])
    expect(channel.queued).toBe(1)
    expect(await reader.next()).toEqual({ done: false, value: 'b' })
    expect(seen).toEqual(['empty after 0'])
    // A push while the reader waits reaches it at once and empties the queue again.
    const waiting = reader.next()
    channel.push('c')
    expect(await waiting).toEqual({ done: false, value: 'c' })
    expect(seen).toEqual(['empty after 0', 'empty after 0'])
    channel.end()
    expect(await reader.next()).toEqual({ done: true, value: undefined })
  })

  it('hands the reader what its onEmpty callback pushes, after the item it took', async () => {
    let pushed = 0
    const channel: Channel<number> = new Channel(() => {
      if (pushed === 3) channel.end()
      else channel.push(++pushed)
    })
    channel.push(0)
    const read: number[] = []
    for await (const item of channel) read.push(item)
    expect(read).toEqual([0, 1, 2, 3])
  })
})
