/** One scheduled action; cancel() makes it a no-op (it is dropped from the heap lazily). */
export class Timer {
  cancelled = false

  constructor(
    readonly at: number,
    readonly run: (now: number) => void,
  ) {}

  cancel(): void {
    this.cancelled = true
  }
}

/**
 * Deadlines in a binary min-heap, fired by `runDue(now)`. The core has no timers of its own:
 * the composition root calls `Broker.tick(now)`, which lands here.
 */
export class TimerQueue {
  private readonly heap: Timer[] = []

  get size(): number {
    return this.heap.length
  }

  add(at: number, run: (now: number) => void): Timer {
    const timer = new Timer(at, run)
    const heap = this.heap
    heap.push(timer)
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = heap[parent] as Timer
      if (p.at <= at) break
      heap[i] = p
      i = parent
    }
    heap[i] = timer
    return timer
  }

  /** Fires every timer due at `now`, earliest first; timers added while firing run if due. */
  runDue(now: number): void {
    for (;;) {
      const top = this.heap[0]
      if (top === undefined || top.at > now) return
      this.pop()
      if (!top.cancelled) top.run(now)
    }
  }

  private pop(): void {
    const heap = this.heap
    const last = heap.pop() as Timer
    if (heap.length === 0) return
    let i = 0
    const n = heap.length
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const c = r < n && (heap[r] as Timer).at < (heap[l] as Timer).at ? r : l
      if ((heap[c] as Timer).at >= last.at) break
      heap[i] = heap[c] as Timer
      i = c
    }
    heap[i] = last
  }
}
