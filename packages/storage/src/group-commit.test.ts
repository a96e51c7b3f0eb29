import { describe, expect, it, vi } from 'vitest'
import { GroupCommit, type Schedule, type StagedOp } from './group-commit.js'

function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

function recorder(fail: (batch: number) => boolean = () => false, schedule?: Schedule) {
  const batches: string[][] = []
  const applied: string[] = []
  const onFailure = vi.fn()
  const commits = new GroupCommit(
    (ops: readonly StagedOp[]) => {
      const batch = batches.length
      batches.push([])
      if (fail(batch)) throw new Error('disk full')
      for (const op of ops) op()
    },
    (cause) => new Error(`wrapped: ${(cause as Error).message}`),
    onFailure,
    schedule,
  )
  const op = (name: string): StagedOp => () => {
    applied.push(name)
    batches[batches.length - 1]?.push(name)
  }
  return { commits, batches, applied, onFailure, op }
}

describe('GroupCommit', () => {
  it('applies every op of one event-loop turn in one commit, in order', async () => {
    const { commits, batches, op } = recorder()
    for (const name of ['a', 'b', 'c']) commits.stage(op(name))
    expect(batches).toEqual([])
    await commits.sync()
    commits.stage(op('d'))
    await turn()
    expect(batches).toEqual([['a', 'b', 'c'], ['d']])
    expect(commits.stats).toEqual({ commits: 2, operations: 4 })
  })

  it('isLast names the latest op staged and not yet committed', async () => {
    const { commits, op } = recorder()
    const a = op('a')
    const b = op('b')
    expect(commits.isLast(a)).toBe(false)
    commits.stage(a)
    expect(commits.isLast(a)).toBe(true)
    commits.stage(b)
    expect([commits.isLast(a), commits.isLast(b)]).toEqual([false, true])
    await commits.sync()
    expect(commits.isLast(b)).toBe(false)
  })

  it('sync() with nothing staged resolves without a commit', async () => {
    const { commits, batches } = recorder()
    await commits.sync()
    expect(batches).toEqual([])
  })

  it('sync() resolves only after the commit holding every earlier op; calls of one turn share it', async () => {
    const { commits, applied, op } = recorder()
    commits.stage(op('a'))
    const first = commits.sync()
    commits.stage(op('b'))
    const second = commits.sync()
    expect(second).toBe(first)
    expect(applied).toEqual([])
    await first
    expect(applied).toEqual(['a', 'b'])
  })

  it('flush() commits synchronously and cancels the scheduled commit', async () => {
    const { commits, batches, op } = recorder()
    commits.stage(op('a'))
    const synced = commits.sync()
    commits.flush()
    expect(batches).toEqual([['a']])
    await synced
    await turn()
    expect(batches).toEqual([['a']])
  })

  it('a failed commit rejects its sync() callers, is reported once, and fails everything after it', async () => {
    const { commits, applied, onFailure, op } = recorder((batch) => batch === 1)
    commits.stage(op('kept'))
    await commits.sync()
    commits.stage(op('lost'))
    const failed = commits.sync()
    await expect(failed).rejects.toThrow('wrapped: disk full')
    expect(onFailure).toHaveBeenCalledTimes(1)
    commits.stage(op('after'))
    await expect(commits.sync()).rejects.toBe(commits.failure)
    expect(() => commits.flush()).toThrow('wrapped: disk full')
    await turn()
    expect(applied).toEqual(['kept'])
    expect(onFailure).toHaveBeenCalledTimes(1)
  })

  it('a failed commit nobody waits for is still reported', async () => {
    const { commits, onFailure, op } = recorder(() => true)
    commits.stage(op('lost'))
    await turn()
    expect(onFailure).toHaveBeenCalledWith(commits.failure)
    expect(commits.failure?.message).toBe('wrapped: disk full')
  })

  it('runs after-commit callbacks in staging order once the commit resolved, and never after a failed one', async () => {
    const { commits, applied, op } = recorder((batch) => batch === 1)
    commits.stage(op('a'), () => applied.push('after a'))
    commits.stage(op('b'), () => applied.push('after b'))
    const synced = commits.sync().then(() => applied.push('synced'))
    commits.flush()
    expect(applied).toEqual(['a', 'b', 'after a', 'after b'])
    await synced
    commits.stage(op('lost'), () => applied.push('after lost'))
    await expect(commits.sync()).rejects.toThrow('wrapped: disk full')
    expect(applied).toEqual(['a', 'b', 'after a', 'after b', 'synced'])
  })

  it('lets an error thrown by an after-commit callback through the scheduled commit instead of swallowing it', () => {
    const scheduled: (() => void)[] = []
    const { commits, op } = recorder(undefined, (flush) => scheduled.push(flush))
    commits.stage(op('a'), () => {
      throw new Error('caller bug')
    })
    expect(() => scheduled[0]?.()).toThrow('caller bug')
    expect(commits.failure).toBeUndefined()
  })

  it('commits when the given schedule says, once per batch (tests drive it by hand)', () => {
    const scheduled: (() => void)[] = []
    const { commits, batches, op } = recorder(undefined, (flush) => scheduled.push(flush))
    commits.stage(op('a'))
    commits.stage(op('b'))
    expect(scheduled).toHaveLength(1)
    scheduled[0]?.()
    commits.stage(op('c'))
    expect(scheduled).toHaveLength(2)
    scheduled[1]?.()
    expect(batches).toEqual([['a', 'b'], ['c']])
  })
})
