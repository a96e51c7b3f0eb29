import type { Duplex } from 'node:stream'

/** The broker side the writer needs: traffic totals, and the write-ahead barrier per session. */
export interface TrafficSink {
  countBytes(received: number, sent: number): void
  /**
   * BrokerCore.durable(clientId): pending while storage writes staged for that session are not
   * committed; without a client id, while any staged write is not.
   */
  durable(clientId?: string): Promise<void> | undefined
}

/**
 * One setImmediate per event-loop turn for the whole server: every connection that queued bytes
 * in this turn is flushed once, and the turn's byte totals are reported in one call.
 *
 * Write-ahead: a packet may tell a client that state changed (PUBACK, PUBREC, PUBREL, PUBCOMP, a
 * PUBLISH now inflight), so a connection's packets go out only once the storage writes staged for
 * its session are durable; otherwise a crash between the two would leave the client one step
 * ahead of the restarted broker (a QoS 2 message delivered twice or its packet id wrongly
 * remembered). The barrier is per session: a connection whose session staged nothing (a clean
 * session's QoS 0 traffic) is written at once while other sessions wait for their commit. A
 * connection's held batches are written strictly in turn order, and a later turn's packets of the
 * same connection wait behind them even when they need no barrier themselves.
 */
export class FlushScheduler {
  /**
   * Bytes every connection has queued and not yet seen the socket accept: its packets waiting for
   * the turn's flush or the write-ahead barrier, and its stream's writable buffer as last seen
   * (a buffer shrinks without an event until it drains, so this errs high, never low).
   */
  bufferedBytes = 0
  /** Called once a turn's writes are out: the server re-checks limits.max_buffered_bytes. */
  onFlushed: (() => void) | undefined
  private dirty: BatchedWriter[] = []
  private spare: BatchedWriter[] = []
  private scheduled = false
  /** A read already wrote its packets at once this turn; later ones wait for the turn's flush. */
  private flushedEarly = false
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

  /**
   * Called when a connection has handled what it read. The packets that read produced (the
   * deliveries it routed, its acknowledgement) go out now instead of after the rest of the poll
   * phase and a setImmediate: at a few thousand messages a second each message is its own turn,
   * and the wait shows in the tail latency. Only the first read of a turn that produced packets
   * does this; under load the later ones of the turn batch into the setImmediate flush as before,
   * so a busy subscriber gets at most one extra write per turn. The write-ahead rule is the same
   * as the turn's flush: behind the session's barrier and the connection's batches held so far.
   */
  flushRead(): void {
    if (this.flushedEarly || this.dirty.length === 0) return
    this.flushedEarly = true
    this.flush()
  }

  /**
   * Runs `write` (a connection's last packets) behind its batches held so far and every storage
   * write staged so far: the PUBACK/PUBREC still owed to it wait on commits of other sessions'
   * writes (PublishResult.durable), and they go out before the last packet.
   */
  afterHeld(writer: BatchedWriter, write: () => void): void {
    const gate = gateFor(writer.held, this.sink.durable())
    if (gate === undefined) write()
    else holdUntil([writer], gate.then(write, write))
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
    this.onFlushed?.()
    if (this.received !== 0 || this.sent !== 0) {
      const received = this.received
      const sent = this.sent
      this.received = 0
      this.sent = 0
      this.sink.countBytes(received, sent)
    }
  }

  private flush(): void {
    const batch = this.dirty
    this.dirty = this.spare
    let held: HeldBatch | undefined
    for (let i = 0; i < batch.length; i++) {
      const writer = batch[i]!
      const previous = writer.held
      const barrier = this.sink.durable(writer.clientId)
      if (previous === undefined && barrier === undefined) writer.flush()
      else held = HeldBatch.add(held, writer, previous, barrier)
    }
    batch.length = 0
    this.spare = batch
    for (let h = held; h !== undefined; h = h.next) h.hold()
  }
}

/** What a connection's packets wait for: its earlier held batch, then its session's barrier. */
function gateFor(previous: Promise<void> | undefined, barrier: Promise<void> | undefined): Promise<void> | undefined {
  if (previous === undefined) return barrier
  return barrier === undefined ? previous : previous.then(() => barrier)
}

/** Marks `writers` as held until `done` settles: their next packets queue behind it. */
function holdUntil(writers: readonly BatchedWriter[], done: Promise<void>): void {
  for (let i = 0; i < writers.length; i++) writers[i]!.held = done
  void done.then(() => {
    for (let i = 0; i < writers.length; i++) if (writers[i]!.held === done) writers[i]!.held = undefined
  })
}

/**
 * The connections of one flush that wait behind the same gate, written together once it opens:
 * one promise chain per distinct gate, not per connection (sessions written in the same turn share
 * one commit, and connections held in the same earlier flush share that batch).
 */
class HeldBatch {
  private readonly writers: BatchedWriter[] = []
  private readonly taken: Buffer[][] = []

  private constructor(
    private readonly previous: Promise<void> | undefined,
    private readonly barrier: Promise<void> | undefined,
    readonly next: HeldBatch | undefined,
  ) {}

  /** Adds `writer`'s queued packets to the batch of its gate in `list`; returns the list. */
  static add(list: HeldBatch | undefined, writer: BatchedWriter, previous: Promise<void> | undefined, barrier: Promise<void> | undefined): HeldBatch {
    let batch = list
    while (batch !== undefined && (batch.previous !== previous || batch.barrier !== barrier)) batch = batch.next
    if (batch === undefined) list = batch = new HeldBatch(previous, barrier, list)
    batch.writers.push(writer)
    batch.taken.push(writer.take())
    return list!
  }

  hold(): void {
    const { writers, taken } = this
    const done = gateFor(this.previous, this.barrier)!.then(
      () => {
        for (let i = 0; i < writers.length; i++) writers[i]!.writeNow(taken[i]!)
      },
      (err: unknown) => {
        for (let i = 0; i < writers.length; i++) writers[i]!.fail(err, taken[i]!)
      },
    )
    holdUntil(writers, done)
  }
}

/** What a writer tells its connection, and asks it. */
export interface WriterOwner {
  /** The session's client id ('' before CONNECT): whose write-ahead barrier the packets wait for. */
  readonly clientId: string
  /** The writer was full (hasRoom() answered false) and has room again. */
  onWritable(): void
  /** The socket has accepted no byte for `stalledMs` while bytes were waiting. */
  onWriteStall(buffered: number, stalledMs: number): void
}

/**
 * Watches the writers whose socket holds unsent bytes and reports the ones that make no progress
 * for `stallMs` (limits.write_stall_timeout). A slow reader that accepts some bytes is never
 * reported. One timer for the whole server, armed only while a socket has a backlog.
 */
export class StallWatch {
  private readonly backlogged = new Set<BatchedWriter>()
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly stallMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The writer's socket holds unsent bytes now. */
  watch(writer: BatchedWriter): void {
    if (this.stallMs <= 0 || this.backlogged.has(writer)) return
    writer.noteProgress(this.now())
    this.backlogged.add(writer)
    this.timer ??= setInterval(this.sweep, Math.max(10, Math.min(1000, this.stallMs / 4))).unref()
  }

  unwatch(writer: BatchedWriter): void {
    this.backlogged.delete(writer)
    if (this.backlogged.size === 0) this.stop()
  }

  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  /** Visible for tests: one pass over the backlogged writers. */
  readonly sweep = (): void => {
    const now = this.now()
    for (const writer of this.backlogged) {
      const stalledMs = writer.stalledFor(now)
      if (stalledMs < 0) this.backlogged.delete(writer)
      else if (stalledMs >= this.stallMs) {
        this.backlogged.delete(writer)
        writer.stalled(stalledMs)
      }
    }
    if (this.backlogged.size === 0) this.stop()
  }
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
  /** The other chunk array, once this connection has flushed (idle connections never need it). */
  private spare: Buffer[] | undefined
  /** Bytes queued this turn or held behind the write-ahead barrier, not yet given to the stream. */
  private pendingBytes = 0
  /** The stream's writableLength when last looked at (counted in the scheduler's total). */
  private streamBytes = 0
  /** Bytes given to the stream so far; less its writableLength, what the socket accepted. */
  private handed = 0
  private accepted = 0
  private progressAt = 0
  /** hasRoom() answered false: the owner is told when there is room again. */
  private starved = false
  /** Write callback, made on the first write (an idle connection never needs one). */
  private onAccepted: (() => void) | undefined
  private dirty = false
  /** end() was called: the last packet is on its way. */
  private closing = false
  /** The last packet was written: nothing more is. */
  private ended = false
  /** FlushScheduler's: settles once this connection's batches held for durability so far are written. */
  held: Promise<void> | undefined

  constructor(
    private readonly stream: Duplex,
    private readonly scheduler: FlushScheduler,
    private readonly maxWriteBuffer: number,
    private readonly owner: WriterOwner,
    private readonly stalls: StallWatch,
  ) {}

  get clientId(): string {
    return this.owner.clientId
  }

  /**
   * The connection's credit: room below limits.max_write_buffer, counting what this turn queued,
   * what waits for the barrier and what the socket has not accepted yet. Deliveries beyond it
   * wait in the session's queue in the core.
   */
  hasRoom(): boolean {
    if (this.pendingBytes + this.stream.writableLength < this.maxWriteBuffer) return true
    this.starved = true
    return false
  }

  write(packet: Buffer): void {
    if (this.ended) return
    this.chunks.push(packet)
    this.pendingBytes += packet.length
    this.scheduler.bufferedBytes += packet.length
    if (!this.dirty) {
      this.dirty = true
      this.scheduler.markDirty(this)
    }
  }

  flush(): void {
    this.dirty = false
    if (this.chunks.length === 0) return
    // Swapped first: writing can give the owner room back, and what it queues then belongs to the next flush.
    const chunks = this.chunks
    this.chunks = this.spare ?? []
    this.writeNow(chunks)
    chunks.length = 0
    this.spare = chunks
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
    if (chunks.length === 0) return
    if (stream.destroyed || stream.writableEnded) {
      this.unpend(chunks)
      return
    }
    let bytes = 0
    // Told when the socket took these bytes: a writer that ran out of room learns it has room again.
    const accepted = (this.onAccepted ??= () => this.streamChanged())
    if (chunks.length === 1) {
      stream.write(chunks[0]!, accepted)
      bytes = chunks[0]!.length
    } else {
      for (let i = 0; i < chunks.length; i++) bytes += chunks[i]!.length
      if (bytes <= COALESCE_BYTES) {
        // Small packets are copied into one buffer: one stream write instead of a write request
        // object per packet and an array of them for writev.
        const joined = Buffer.allocUnsafe(bytes)
        let at = 0
        for (let i = 0; i < chunks.length; i++) at += chunks[i]!.copy(joined, at)
        stream.write(joined, accepted)
      } else {
        stream.cork()
        const last = chunks.length - 1
        for (let i = 0; i < last; i++) stream.write(chunks[i]!)
        stream.write(chunks[last]!, accepted)
        stream.uncork()
      }
    }
    this.scheduler.countSent(bytes)
    this.pendingBytes -= bytes
    this.scheduler.bufferedBytes -= bytes
    this.handed += bytes
    this.streamChanged()
    if (stream.writableLength > 0) this.stalls.watch(this)
  }

  /** Brings the scheduler's total up to the stream's buffer, and tells the owner when room came back. */
  private streamChanged(): void {
    const now = this.stream.destroyed ? 0 : this.stream.writableLength
    this.scheduler.bufferedBytes += now - this.streamBytes
    this.streamBytes = now
    if (this.starved && this.pendingBytes + now < this.maxWriteBuffer) {
      this.starved = false
      this.owner.onWritable()
    }
  }

  private unpend(chunks: readonly Buffer[]): void {
    let bytes = 0
    for (let i = 0; i < chunks.length; i++) bytes += chunks[i]!.length
    this.pendingBytes -= bytes
    this.scheduler.bufferedBytes -= bytes
  }

  /** StallWatch: the socket accepted bytes (or not) since it was last asked. */
  noteProgress(now: number): void {
    this.accepted = this.handed - this.stream.writableLength
    this.progressAt = now
  }

  /** How long the socket has accepted nothing while holding bytes; -1 when it holds none. */
  stalledFor(now: number): number {
    const stream = this.stream
    this.streamChanged()
    if (stream.destroyed || stream.writableLength === 0) return -1
    const accepted = this.handed - stream.writableLength
    if (accepted !== this.accepted) this.noteProgress(now)
    return now - this.progressAt
  }

  stalled(stalledMs: number): void {
    this.owner.onWriteStall(this.stream.writableLength, stalledMs)
  }

  /** Storage could not make what these packets announce durable: the client must not see them. */
  fail(err: unknown, held: readonly Buffer[]): void {
    this.unpend(held)
    this.discard()
    this.stream.destroy(err instanceof Error ? err : new Error(String(err)))
  }

  /** Writes what is queued plus `last` now, then half-closes; the socket is destroyed once flushed or after `lingerMs`. */
  end(last: Buffer | undefined, lingerMs: number): void {
    if (this.closing) return
    this.closing = true
    // Acknowledgements already owed (PUBACK/PUBREC waiting on a commit) still go out before
    // `last`: one turn for those settled in microtasks, then the commit of every staged write.
    setImmediate(() => this.scheduler.afterHeld(this, () => this.finish(last, lingerMs)))
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
    this.unpend(this.chunks)
    this.chunks.length = 0
  }

  /** The stream closed: nothing of it counts any more. Packets still held for the barrier uncount themselves when they find it destroyed. */
  closed(): void {
    this.discard()
    this.scheduler.bufferedBytes -= this.streamBytes
    this.streamBytes = 0
    this.starved = false
    this.stalls.unwatch(this)
  }
}
