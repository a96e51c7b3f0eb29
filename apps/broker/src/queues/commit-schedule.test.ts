import { describe, expect, it } from 'vitest'
import { spacedCommits } from './commit-schedule.js'

const turn = () => new Promise((resolve) => setImmediate(resolve))

describe('spacedCommits', () => {
  it('commits at the end of the turn after a quiet interval, and waits out the interval after a commit', async () => {
    let now = 1000
    const schedule = spacedCommits(30, () => now)
    const commits: string[] = []
    schedule(() => commits.push('first'))
    expect(commits).toEqual([])
    await turn()
    expect(commits).toEqual(['first'])

    // 10 ms after the first commit began: not at the end of this turn, once the timer fires.
    now += 10
    const second = new Promise<void>((resolve) =>
      schedule(() => {
        commits.push('second')
        resolve()
      }),
    )
    await turn()
    expect(commits).toEqual(['first'])
    await second
    expect(commits).toEqual(['first', 'second'])

    // The interval since the second commit is over: at the end of the turn again.
    now += 30
    schedule(() => commits.push('third'))
    await turn()
    expect(commits).toEqual(['first', 'second', 'third'])
  })
})
