import type { Duplex } from 'node:stream'

/** The broker side the writer needs: traffic totals, and the write-ahead barrier. */
export interface TrafficSink {
  countBytes(received: number, sent: number): void
  /** BrokerCore.durable(): pending when the core staged storage writes not yet committed. */
  durable(): Promise<void> | undefined
}

/**
 * One setImmediate per event-loop turn for the whole server: every connection that queued bytes
 * in this turn is flushed once, and the turn's byte totals are reported in one call.
 *
 * Write-ahead: a packet may tell a client that state changed (PUBACK, PUBREC, PUBREL, PUBCOMP, a
 * PUBLISH now inflight), so a turn's packets go out only once the storage writes staged with them
 * are durable; otherwise a crash between the two would leave the client one step ahead of the
 * restarted broker (a QoS 2 message delivered twice or its packet id wrongly remembered). Held
 * batches are written strictly in turn order.
 */
export class FlushScheduler {
  private dirty: BatchedWriter[] = []
  private spare: BatchedWriter[] = []
  private scheduled = false
  /** A read already wrote its packets at once this turn; later ones wait for the turn's flush. */
  private flushedEarly = false
  private received = 0
  private sent = 0
  /** Settles once every held batch so far has been written (or failed); undefined when none is held. */
  private held: Promise<void> | undefined

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

  /**
   * Called when a connection has handled what it read. The packets that read produced (the
   * deliveries it routed, its acknowledgement) go out now instead of after the rest of the poll
   * phase and a setImmediate: at a few thousand messages a second each message is its own turn,
   * and the wait shows in the tail latency. Only the first read of a turn that produced packets
   * does this; under load the later ones of the turn batch into the setImmediate flush as before,
   * so a busy subscriber gets at most one extra write per turn. The write-ahead rule is the same
   * as the turn's flush: behind the storage barrier and every batch held so far.
   */
  flushRead(): void {
    if (this.flushedEarly || this.dirty.length === 0) return
    this.flushedEarly = true
    this.flush()
  }

  /** Runs `write` (a connection's last packets) behind the barrier and every batch held so far. */
  afterHeld(write: () => void): void {
    const gate = this.gateFor(this.sink.durable())
    if (gate === undefined) write()
    else this.hold(gate, write)
  }

  private gateFor(barrier: Promise<void> | undefined): Promise<void> | undefined {
    const previous = this.held
    if (previous === undefined) return barrier
    return barrier === undefined ? previous : previous.then(() => barrier)
  }

  private schedule(): void {
    if (this.scheduled) return
    this.scheduled = true
    setImmediate(this.run)
  }

  private readonly run = (): void => {
    this.scheduled = false
    this.flushedEarly = false
    this.flush()
    if (this.received !== 0 || this.sent !== 0) {
      const received = this.received
      const sent = this.sent
      this.received = 0
      this.sent = 0
      this.sink.countBytes(received, sent)
    }
  }

  private flush(): void {
    const barrier = this.sink.durable()
    if (barrier === undefined && this.held === undefined) this.flushNow()
    else this.holdBatch(barrier)
  }

  private flushNow(): void {
    const batch = this.dirty
    this.dirty = this.spare
    for (let i = 0; i < batch.length; i++) batch[i]!.flush()
    batch.length = 0
    this.spare = batch
  }

  private holdBatch(barrier: Promise<void> | undefined): void {
    const batch = this.dirty
    this.dirty = []
    const taken = batch.map((writer) => writer.take())
    this.hold(this.gateFor(barrier)!, () => {
      for (let i = 0; i < batch.length; i++) batch[i]!.writeNow(taken[i]!)
    }, (err) => {
      for (let i = 0; i < batch.length; i++) batch[i]!.fail(err)
    })
  }

  private hold(gate: Promise<void>, write: () => void, fail: (err: unknown) => void = write): void {
    const done = gate.then(write, fail)
    this.held = done
    void done.then(() => {
      if (this.held === done) this.held = undefined
    })
  }
}

/** Told when the client does not read: more than maxWriteBuffer bytes are waiting in the stream. */
export interface WriteOverflowHandler {
  onWriteOverflow(buffered: number): void
}

/** Up to this many bytes a turn's packets are joined into one buffer; larger batches use writev. */
const COALESCE_BYTES = 16 * 1024

/**
 * Gathers the packets one connection produces during an event-loop turn and writes them at once:
 * joined into one buffer when small, else one corked burst (one writev syscall). Encoded buffers
 * may be shared between connections, so they are copied or written as they are, never modified.
 */
export class BatchedWriter {
  private chunks: Buffer[] = []
  private dirty = false
  /** end() was called: the last packet is on its way. */
  private closing = false
  /** The last packet was written: nothing more is. */
  private ended = false

  constructor(
    private readonly stream: Duplex,
    private readonly scheduler: FlushScheduler,
    private readonly maxWriteBuffer: number,
    private readonly owner: WriteOverflowHandler,
  ) {}

  write(packet: Buffer): void {
    if (this.ended) return
    this.chunks.push(packet)
    if (!this.dirty) {
      this.dirty = true
      this.scheduler.markDirty(this)
    }
  }

  flush(): void {
    this.dirty = false
    if (this.chunks.length === 0) return
    this.writeNow(this.chunks)
    this.discard()
  }

  /** Hands over what is queued (to be written once the write-ahead barrier passes). */
  take(): Buffer[] {
    const chunks = this.chunks
    this.chunks = []
    this.dirty = false
    return chunks
  }

  writeNow(chunks: readonly Buffer[]): void {
    const stream = this.stream
    if (chunks.length === 0 || stream.destroyed || stream.writableEnded) return
    let bytes = 0
    if (chunks.length === 1) {
      stream.write(chunks[0]!)
      bytes = chunks[0]!.length
    } else {
      for (let i = 0; i < chunks.length; i++) bytes += chunks[i]!.length
      if (bytes <= COALESCE_BYTES) {
        // Small packets are copied into one buffer: one stream write instead of a write request
        // object per packet and an array of them for writev.
        const joined = Buffer.allocUnsafe(bytes)
        let at = 0
        for (let i = 0; i < chunks.length; i++) at += chunks[i]!.copy(joined, at)
        stream.write(joined)
      } else {
        stream.cork()
        for (let i = 0; i < chunks.length; i++) stream.write(chunks[i]!)
        stream.uncork()
      }
    }
    this.scheduler.countSent(bytes)
    const buffered = stream.writableLength
    if (buffered > this.maxWriteBuffer) this.owner.onWriteOverflow(buffered)
  }

  /** Storage could not make what these packets announce durable: the client must not see them. */
  fail(err: unknown): void {
    this.discard()
    this.stream.destroy(err instanceof Error ? err : new Error(String(err)))
  }

  /** Writes what is queued plus `last` now, then half-closes; the socket is destroyed once flushed or after `lingerMs`. */
  end(last: Buffer | undefined, lingerMs: number): void {
    if (this.closing) return
    this.closing = true
    // Acknowledgements already owed (PUBACK/PUBREC waiting on a commit) still go out before
    // `last`: one turn for those settled in microtasks, then every batch held for durability.
    setImmediate(() => this.scheduler.afterHeld(() => this.finish(last, lingerMs)))
  }

  private finish(last: Buffer | undefined, lingerMs: number): void {
    const chunks = this.take()
    if (last !== undefined) chunks.push(last)
    this.ended = true
    this.writeNow(chunks)
    const stream = this.stream
    if (stream.destroyed) return
    const linger = setTimeout(() => stream.destroy(), lingerMs)
    linger.unref()
    stream.once('close', () => clearTimeout(linger))
    // Half-close and let the peer close: destroying a socket with unread input sends RST, and a
    // peer that gets RST may throw away the DISCONNECT it has not read yet. Input is discarded
    // meanwhile; the peer's FIN (or the linger timeout) destroys the socket.
    stream.end()
    stream.resume()
  }

  /** Drops whatever is queued (the stream is gone). */
  discard(): void {
    this.chunks.length = 0
  }
}
