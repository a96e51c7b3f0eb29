import type { Duplex } from 'node:stream'

/** Where batched traffic totals go (the broker's countBytes). */
export interface TrafficSink {
  countBytes(received: number, sent: number): void
}

/**
 * One setImmediate per event-loop turn for the whole server: every connection that queued bytes
 * in this turn is flushed once, and the turn's byte totals are reported in one call.
 */
export class FlushScheduler {
  private dirty: BatchedWriter[] = []
  private spare: BatchedWriter[] = []
  private scheduled = false
  private received = 0
  private sent = 0

  constructor(private readonly sink: TrafficSink) {}

  markDirty(writer: BatchedWriter): void {
    this.dirty.push(writer)
    this.schedule()
  }

  countReceived(bytes: number): void {
    this.received += bytes
    this.schedule()
  }

  countSent(bytes: number): void {
    this.sent += bytes
    this.schedule()
  }

  private schedule(): void {
    if (this.scheduled) return
    this.scheduled = true
    setImmediate(this.run)
  }

  private readonly run = (): void => {
    this.scheduled = false
    const batch = this.dirty
    this.dirty = this.spare
    for (let i = 0; i < batch.length; i++) batch[i]!.flush()
    batch.length = 0
    this.spare = batch
    if (this.received !== 0 || this.sent !== 0) {
      const received = this.received
      const sent = this.sent
      this.received = 0
      this.sent = 0
      this.sink.countBytes(received, sent)
    }
  }
}

/**
 * Gathers the packets one connection produces during an event-loop turn and writes them in one
 * corked burst (one writev syscall). Encoded buffers may be shared between connections, so they
 * are written as they are and never modified.
 */
export class BatchedWriter {
  private chunks: Buffer[] = []
  private queuedBytes = 0
  private dirty = false
  private ended = false

  constructor(
    private readonly stream: Duplex,
    private readonly scheduler: FlushScheduler,
    private readonly maxWriteBuffer: number,
    /** The client does not read: more than maxWriteBuffer bytes are waiting in the stream. */
    private readonly onOverflow: (buffered: number) => void,
  ) {}

  write(packet: Buffer): void {
    if (this.ended) return
    this.chunks.push(packet)
    this.queuedBytes += packet.length
    if (!this.dirty) {
      this.dirty = true
      this.scheduler.markDirty(this)
    }
  }

  flush(): void {
    this.dirty = false
    const chunks = this.chunks
    if (chunks.length === 0) return
    const stream = this.stream
    if (stream.destroyed || stream.writableEnded) {
      this.discard()
      return
    }
    if (chunks.length === 1) {
      stream.write(chunks[0]!)
    } else {
      stream.cork()
      for (let i = 0; i < chunks.length; i++) stream.write(chunks[i]!)
      stream.uncork()
    }
    this.scheduler.countSent(this.queuedBytes)
    this.discard()
    const buffered = stream.writableLength
    if (buffered > this.maxWriteBuffer) this.onOverflow(buffered)
  }

  /** Writes what is queued plus `last` now, then half-closes; the socket is destroyed once flushed or after `lingerMs`. */
  end(last: Buffer | undefined, lingerMs: number): void {
    if (this.ended) return
    if (last !== undefined) this.write(last)
    this.flush()
    this.ended = true
    const stream = this.stream
    if (stream.destroyed) return
    const linger = setTimeout(() => stream.destroy(), lingerMs)
    linger.unref()
    stream.end(() => {
      clearTimeout(linger)
      stream.destroy()
    })
  }

  /** Drops whatever is queued (the stream is gone). */
  discard(): void {
    this.chunks.length = 0
    this.queuedBytes = 0
  }
}
