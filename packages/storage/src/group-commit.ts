/** One staged write; runs inside the batch's transaction. */
export type StagedOp = () => void

/** Runs `flush` once the current event-loop turn is done: setImmediate, unless a test drives it. */
export type Schedule = (flush: () => void) => void

const END_OF_TURN: Schedule = (flush) => void setImmediate(flush)

export interface GroupCommitStats {
  /** Transactions committed. */
  readonly commits: number
  /** Operations those transactions applied. */
  readonly operations: number
}

interface Waiters {
  readonly promise: Promise<void>
  resolve(): void
  reject(error: Error): void
}

const RESOLVED: Promise<void> = Promise.resolve()

/**
 * Group commit: writes are staged synchronously, in order, and the first one of an event-loop
 * turn schedules (setImmediate) a single transaction that applies all of them. Every sync() of
 * one batch shares one promise, settled when that batch's transaction commits or fails. A write
 * may come with an after-commit callback (the queue engine reveals appended messages to
 * consumers only once they are on disk); callbacks run in staging order once the promise is
 * resolved, and what one throws is a bug of the caller: it is not swallowed.
 *
 * A failed commit is terminal: its operations are lost, so applying later ones could build a
 * state the broker never had. Every pending and future sync() rejects with the failure, later
 * writes are dropped, and `onFailure` hears about it once.
 */
export class GroupCommit {
  private staged: StagedOp[] = []
  private committed: (() => void)[] = []
  private waiters: Waiters | undefined
  private scheduled = false
  private failed: Error | undefined
  private commits = 0
  private operations = 0

  constructor(
    /** Runs the ops in one transaction; throws if the transaction did not commit. */
    private readonly commit: (ops: readonly StagedOp[]) => void,
    /** Wraps whatever the commit threw into the error that sync() callers receive. */
    private readonly toFailure: (cause: unknown) => Error,
    private readonly onFailure: (failure: Error) => void,
    private readonly schedule: Schedule = END_OF_TURN,
  ) {}

  get failure(): Error | undefined {
    return this.failed
  }

  get stats(): GroupCommitStats {
    return { commits: this.commits, operations: this.operations }
  }

  /** Stages `op` for this turn's commit; `onCommitted` runs after that commit succeeded. */
  stage(op: StagedOp, onCommitted?: () => void): void {
    if (this.failed !== undefined) return
    this.staged.push(op)
    if (onCommitted !== undefined) this.committed.push(onCommitted)
    if (!this.scheduled) {
      this.scheduled = true
      this.schedule(this.flushScheduled)
    }
  }

  /** Whether `op` is the latest op staged and not yet committed: a caller may then add to what it writes. */
  isLast(op: StagedOp): boolean {
    return this.staged.length > 0 && this.staged[this.staged.length - 1] === op
  }

  /** Resolves once every op staged before the call is committed. */
  sync(): Promise<void> {
    if (this.failed !== undefined) return Promise.reject(this.failed)
    if (this.staged.length === 0) return RESOLVED
    this.waiters ??= createWaiters()
    return this.waiters.promise
  }

  /**
   * Commits everything staged now, synchronously (reads that must see staged writes, close). The
   * turn's scheduled commit still runs and commits what was staged after this call, if anything.
   */
  flush(): void {
    if (this.failed !== undefined) throw this.failed
    if (this.staged.length === 0) return
    const ops = this.staged
    const committed = this.committed
    const waiters = this.waiters
    this.staged = []
    this.committed = []
    this.waiters = undefined
    try {
      this.commit(ops)
    } catch (cause) {
      const failure = this.toFailure(cause)
      this.failed = failure
      waiters?.reject(failure)
      this.onFailure(failure)
      throw failure
    }
    this.commits += 1
    this.operations += ops.length
    waiters?.resolve()
    for (const callback of committed) callback()
  }

  private readonly flushScheduled = (): void => {
    this.scheduled = false
    try {
      this.flush()
    } catch (error) {
      // A failed commit is delivered already (sync() rejected, onFailure reported it); anything
      // else was thrown by an after-commit callback and must not vanish here.
      if (error !== this.failed) throw error
    }
  }
}

function createWaiters(): Waiters {
  let resolve!: () => void
  let reject!: (error: Error) => void
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}
