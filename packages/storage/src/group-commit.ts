/** One staged write; runs inside the batch's transaction. */
export type StagedOp = () => void

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
 * one batch shares one promise, settled when that batch's transaction commits or fails.
 *
 * A failed commit is terminal: its operations are lost, so applying later ones could build a
 * state the broker never had. Every pending and future sync() rejects with the failure, later
 * writes are dropped, and `onFailure` hears about it once.
 */
export class GroupCommit {
  private staged: StagedOp[] = []
  private waiters: Waiters | undefined
  private scheduled: NodeJS.Immediate | undefined
  private failed: Error | undefined
  private commits = 0
  private operations = 0

  constructor(
    /** Runs the ops in one transaction; throws if the transaction did not commit. */
    private readonly commit: (ops: readonly StagedOp[]) => void,
    /** Wraps whatever the commit threw into the error that sync() callers receive. */
    private readonly toFailure: (cause: unknown) => Error,
    private readonly onFailure: (failure: Error) => void,
  ) {}

  get failure(): Error | undefined {
    return this.failed
  }

  get stats(): GroupCommitStats {
    return { commits: this.commits, operations: this.operations }
  }

  stage(op: StagedOp): void {
    if (this.failed !== undefined) return
    this.staged.push(op)
    this.scheduled ??= setImmediate(this.flushScheduled)
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

  /** Commits everything staged now, synchronously (reads that must see staged writes, close). */
  flush(): void {
    if (this.failed !== undefined) throw this.failed
    if (this.scheduled !== undefined) {
      clearImmediate(this.scheduled)
      this.scheduled = undefined
    }
    if (this.staged.length === 0) return
    const ops = this.staged
    const waiters = this.waiters
    this.staged = []
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
  }

  private readonly flushScheduled = (): void => {
    this.scheduled = undefined
    try {
      this.flush()
    } catch {
      // Already delivered: the batch's sync() promises rejected and onFailure reported it.
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
