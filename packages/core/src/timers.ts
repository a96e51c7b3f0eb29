/** One scheduled action. cancel() takes it out of its queue at once (no cancelled garbage piles up). */
export class Timer {
  /** Position in the heap; -1 once fired or cancelled. */
  index = -1

  constructor(
    readonly at: number,
    readonly run: (now: number) => void,
    private readonly queue: TimerQueue,
  ) {}

  cancel(): void {
    if (this.index >= 0) this.queue.remove(this)
  }
}

/**
 * Deadlines in a binary min-heap, fired by `runDue(now)`. The core has no timers of its own:
 * the composition root calls `Broker.tick(now)`, which lands here. A session reconnecting often
 * with a long expiry cancels as many timers as it arms, so cancellation removes in O(log n).
 */
export class TimerQueue {
  private readonly heap: Timer[] = []

  get size(): number {
    return this.heap.length
  }

  add(at: number, run: (now: number) => void): Timer {
    const timer = new Timer(at, run, this)
    timer.index = this.heap.length
    this.heap.push(timer)
    this.up(timer.index)
    return timer
  }

  /** Fires every timer due at `now`, earliest first; timers added while firing run if due. */
  runDue(now: number): void {
    for (;;) {
      const top = this.heap[0]
      if (top === undefined || top.at > now) return
      this.remove(top)
      top.run(now)
    }
  }

  remove(timer: Timer): void {
    const i = timer.index
    const heap = this.heap
    const last = heap.pop() as Timer
    timer.index = -1
    if (last === timer) return
    heap[i] = last
    last.index = i
    this.down(i)
    this.up(last.index)
  }

  private up(i: number): void {
    const heap = this.heap
    const t = heap[i] as Timer
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = heap[parent] as Timer
      if (p.at <= t.at) break
      heap[i] = p
      p.index = i
      i = parent
    }
    heap[i] = t
    t.index = i
  }

  private down(i: number): void {
    const heap = this.heap
    const n = heap.length
    const t = heap[i] as Timer
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const c = r < n && (heap[r] as Timer).at < (heap[l] as Timer).at ? r : l
      const child = heap[c] as Timer
      if (child.at >= t.at) break
      heap[i] = child
      child.index = i
      i = c
    }
    heap[i] = t
    t.index = i
  }
}
