/** A write staged for the next commit; runs inside its transaction. */
export type StagedWrite = () => void

/** Runs `flush` once the current event-loop turn is done (setImmediate in production). */
export type Schedule = (flush: () => void) => void

/**
 * Group commit per event-loop turn: writes are staged in order, the first one of a turn
 * schedules one transaction for all of them, and every `durable()` of that turn shares one
 * promise settled by that transaction. `onCommitted` callbacks run after it commits, so the
 * engine reveals appended messages to consumers only once they are on disk.
 *
 * @fluxmq/storage has the same mechanism without the after-commit hook and keeps it internal; a
 * shared `./internal` export of it is the better end state (see README).
 *
 * A failed commit is terminal: its writes are lost, so applying later ones could build a state
 * that never existed. Pending and later `durable()` promises reject with the failure.
 */
export class CommitBatch {
  private writes: StagedWrite[] = []
  private committed: (() => void)[] = []
  private waiters: { promise: Promise<void>; resolve(): void; reject(error: Error): void } | undefined
  private scheduled = false
  private failed: Error | undefined

  constructor(
    /** Runs the writes, then `finish`, in one transaction; throws if it did not commit. */
    private readonly commit: (writes: readonly StagedWrite[]) => void,
    private readonly schedule: Schedule,
    /** Wraps what the commit threw; called once, on the first failure. */
    private readonly toFailure: (cause: unknown) => Error,
  ) {}

  get failure(): Error | undefined {
    return this.failed
  }

  get idle(): boolean {
    return this.writes.length === 0
  }

  stage(write: StagedWrite, onCommitted?: () => void): void {
    if (this.failed !== undefined) throw this.failed
    this.writes.push(write)
    if (onCommitted !== undefined) this.committed.push(onCommitted)
    if (!this.scheduled) {
      this.scheduled = true
      this.schedule(this.flushScheduled)
    }
  }

  /** Resolves once everything staged before the call has committed. */
  durable(): Promise<void> {
    if (this.failed !== undefined) return Promise.reject(this.failed)
    if (this.writes.length === 0) return Promise.resolve()
    if (this.waiters === undefined) {
      let resolve!: () => void
      let reject!: (error: Error) => void
      const promise = new Promise<void>((res, rej) => {
        resolve = res
        reject = rej
      })
      this.waiters = { promise, resolve, reject }
    }
    return this.waiters.promise
  }

  /** Commits what is staged now; throws the failure if the commit fails. */
  flush(): void {
    if (this.failed !== undefined) throw this.failed
    if (this.writes.length === 0) return
    const writes = this.writes
    const committed = this.committed
    const waiters = this.waiters
    this.writes = []
    this.committed = []
    this.waiters = undefined
    try {
      this.commit(writes)
    } catch (cause) {
      this.failed = this.toFailure(cause)
      waiters?.reject(this.failed)
      throw this.failed
    }
    waiters?.resolve()
    for (const callback of committed) callback()
  }

  private readonly flushScheduled = (): void => {
    this.scheduled = false
    try {
      this.flush()
    } catch (error) {
      // A failed commit is delivered already (durable() rejected, `failure` set); anything else
      // was thrown by an after-commit callback and is a bug that must not vanish here.
      if (error !== this.failed) throw error
    }
  }
}
