import { describe, expect, it } from 'vitest'
import { CommitBatch, type StagedWrite } from './commit-batch.js'

function batchOf(commit: (writes: readonly StagedWrite[]) => void): { batch: CommitBatch; scheduled: (() => void)[] } {
  const scheduled: (() => void)[] = []
  const batch = new CommitBatch(commit, (flush) => scheduled.push(flush), (cause) => new Error(`failed: ${String(cause)}`))
  return { batch, scheduled }
}

describe('CommitBatch', () => {
  it('commits a turn’s writes in order in one commit, then resolves and runs the after-commit callbacks', async () => {
    const log: string[] = []
    const { batch, scheduled } = batchOf((writes) => {
      log.push(`commit ${writes.length}`)
      for (const write of writes) write()
    })
    batch.stage(() => log.push('w1'), () => log.push('after 1'))
    const durable = batch.durable()
    batch.stage(() => log.push('w2'))
    expect(batch.durable()).toBe(durable)
    expect(scheduled).toHaveLength(1)
    scheduled[0]?.()
    await durable
    expect(log).toEqual(['commit 2', 'w1', 'w2', 'after 1'])
    expect(batch.idle).toBe(true)
    await batch.durable()
  })

  it('lets an error thrown by an after-commit callback through instead of swallowing it', () => {
    const { batch, scheduled } = batchOf((writes) => {
      for (const write of writes) write()
    })
    batch.stage(
      () => undefined,
      () => {
        throw new Error('adapter bug')
      },
    )
    expect(() => scheduled[0]?.()).toThrow('adapter bug')
    expect(batch.failure).toBeUndefined()
  })

  it('is terminal after a failed commit: the batch rejects, later writes throw, callbacks never run', async () => {
    let afterRan = false
    const { batch, scheduled } = batchOf(() => {
      throw new Error('disk full')
    })
    batch.stage(() => undefined, () => (afterRan = true))
    const durable = batch.durable()
    scheduled[0]?.()
    await expect(durable).rejects.toThrow('failed: Error: disk full')
    expect(afterRan).toBe(false)
    expect(batch.failure?.message).toBe('failed: Error: disk full')
    expect(() => batch.stage(() => undefined)).toThrow('failed: Error: disk full')
    await expect(batch.durable()).rejects.toThrow('failed: Error: disk full')
  })
})
