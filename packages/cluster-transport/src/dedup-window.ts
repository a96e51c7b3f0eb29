/** Why a receiver refused a batch; undefined in an outcome means it was accepted. */
export interface Rejection {
  readonly code: string
  readonly message: string
}

export type BatchOutcome = Rejection | undefined

/**
 * The outcomes of the last `size` sequences of one sender epoch, so a batch resent after a lost
 * acknowledgement is answered from here instead of being applied again. Outcomes are promises:
 * a resend that arrives while the first copy is still being applied waits for the same result.
 */
export class DedupWindow {
  private highest = 0
  private readonly sequences: number[]
  private readonly outcomes: (Promise<BatchOutcome> | undefined)[]

  constructor(readonly size: number) {
    this.sequences = new Array<number>(size).fill(0)
    this.outcomes = new Array<Promise<BatchOutcome> | undefined>(size).fill(undefined)
  }

  /**
   * 'new' for a sequence above every one seen (apply it, then `record`); the recorded outcome for
   * one inside the window; 'unknown' for one older than the window or never seen here (a receiver
   * that restarted lost its window: the sender resends from its oldest unacknowledged batch, so a
   * gap below the highest sequence means the sender broke the contract).
   */
  lookup(sequence: number): 'new' | 'unknown' | Promise<BatchOutcome> {
    if (sequence > this.highest) return 'new'
    const slot = sequence % this.size
    const outcome = this.outcomes[slot]
    if (sequence <= this.highest - this.size || this.sequences[slot] !== sequence || outcome === undefined) return 'unknown'
    return outcome
  }

  record(sequence: number, outcome: Promise<BatchOutcome>): void {
    const slot = sequence % this.size
    this.sequences[slot] = sequence
    this.outcomes[slot] = outcome
    this.highest = sequence
  }
}

/**
 * One window per (sender node, epoch). A sender's new epoch means its forwarder was recreated; the
 * windows of its older epochs are kept only until `epochsPerSender` newer ones exist, which bounds
 * the memory of a receiver whatever its senders do.
 */
export class DedupTable {
  private readonly senders = new Map<string, Map<bigint, DedupWindow>>()

  constructor(
    private readonly windowSize: number,
    private readonly epochsPerSender = 2,
  ) {}

  window(sender: string, epoch: bigint): DedupWindow {
    let epochs = this.senders.get(sender)
    if (epochs === undefined) {
      epochs = new Map()
      this.senders.set(sender, epochs)
    }
    let window = epochs.get(epoch)
    if (window === undefined) {
      window = new DedupWindow(this.windowSize)
      epochs.set(epoch, window)
      // Maps iterate in insertion order: the first keys are the oldest epochs.
      for (const old of epochs.keys()) {
        if (epochs.size <= this.epochsPerSender) break
        epochs.delete(old)
      }
    }
    return window
  }
}
