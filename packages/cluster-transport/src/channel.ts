/**
 * A single-consumer async queue: the request side of a client stream and the response side of a
 * server stream are written by callbacks and read by Connect as an AsyncIterable (an async
 * generator, so `throw` and `return` behave as Connect expects). An async generator awaits a
 * promise it yields, so promises must be pushed boxed. Unbounded by itself; every writer bounds
 * what it pushes (credit).
 */
export class Channel<T> implements AsyncIterable<T> {
  private readonly items: T[] = []
  private wake: (() => void) | undefined
  private ended = false
  private failure: { error: unknown } | undefined

  /** `onEmpty` runs each time the reader takes the last queued item. */
  constructor(private readonly onEmpty?: () => void) {}

  /** Items pushed and not yet taken by the reader. */
  get queued(): number {
    return this.items.length
  }

  push(item: T): void {
    if (this.ended) return
    this.items.push(item)
    this.notify()
  }

  /** No more items: the reader finishes after the queued ones. */
  end(): void {
    this.ended = true
    this.notify()
  }

  /** The reader throws `error` after the queued ones. */
  fail(error: unknown): void {
    if (this.ended) return
    this.ended = true
    this.failure = { error }
    this.notify()
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    try {
      for (;;) {
        while (this.items.length > 0) {
          const item = this.items.shift() as T
          if (this.items.length === 0) this.onEmpty?.()
          yield item
        }
        if (this.failure !== undefined) throw this.failure.error
        if (this.ended) return
        await new Promise<void>((resolve) => (this.wake = resolve))
      }
    } finally {
      // The reader stopped (done, thrown into, or returned): later pushes are dropped.
      this.ended = true
      this.items.length = 0
    }
  }

  private notify(): void {
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }
}
