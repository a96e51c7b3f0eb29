// The sending end of ForwardService for one peer: batching bounded in size and time, credit from
// the receiver, a memory bound that turns into backpressure, resends under the same idempotency
// keys after a broken stream, and the circuit breaker that makes a dead peer fail fast.
import type { Http2SessionManager } from '@connectrpc/connect-node'
import type { Logger, Message } from '@fluxmq/core'
import type { CircuitBreaker } from './circuit-breaker.js'
import { TransportError, TransportErrorCode } from './errors.js'
import { ForwardCall } from './forward-call.js'
import { batchFrame, randomStreamId, readResponse, requestFrame, type AckFields } from './forward-wire.js'
import type { ForwardRouting } from './handlers.js'
import { packMessages } from './packed.js'
import { callError } from './remote-error.js'

export interface ForwardLimits {
  /** Messages per batch (default 256). */
  readonly maxBatchMessages?: number
  /** Estimated bytes per batch (default 1 MiB); a larger single message travels alone. */
  readonly maxBatchBytes?: number
  /**
   * How long a batch waits for more messages, in ms; 0 (default) = until the code that forwarded
   * returns (a microtask). After it, the batch still takes messages while another waits to be written.
   */
  readonly maxBatchDelayMs?: number
  /** Messages queued or unacknowledged beyond which `forward` reports backpressure (default 8192). */
  readonly maxPendingMessages?: number
  /** Estimated bytes queued or unacknowledged beyond which `forward` reports backpressure (default 16 MiB). */
  readonly maxPendingBytes?: number
  /** First reconnect delay after a broken stream, doubled per failure up to retryMaxMs (default 20 ms). */
  readonly retryMinMs?: number
  readonly retryMaxMs?: number
}

export interface PeerForwarderOptions extends ForwardLimits {
  readonly localNode: string
  readonly peerNode: string
  /** The peer's HTTP/2 connection, shared with the other calls. */
  readonly sessions: Http2SessionManager
  /** Largest response message read. */
  readonly maxMessageBytes: number
  readonly breaker: CircuitBreaker
  readonly logger: Logger
  /** The sender epoch of the idempotency keys (default: random). A new forwarder must use a new one. */
  readonly epoch?: bigint
  /** See PeerForwarder.fence: routing sequences at or below it are never sent (default 0: none). */
  readonly fencedUpTo?: number
}

export interface ForwarderStats {
  /** Messages forwarded and not yet accepted (queued or unacknowledged). */
  readonly pendingMessages: number
  /** Their estimated size. */
  readonly pendingBytes: number
  readonly unackedBatches: number
  /** Messages and batches the peer accepted. */
  readonly acceptedMessages: number
  readonly acceptedBatches: number
  /** Batches the peer refused. */
  readonly rejectedBatches: number
  /** Batches sent again on a new stream after the previous one broke. */
  readonly resentBatches: number
  /** Streams that broke or could not be opened. */
  readonly streamFailures: number
}

interface Batch {
  sequence: bigint
  /** The sender's arrivals when it routed every message of this batch (InboundBatch.arrivals). */
  readonly arrivals: number
  readonly messages: Message[]
  /** Index-aligned with messages: the sender's routing sequence of each (InboundBatch.seqs). */
  readonly seqs: number[]
  /** Index-aligned with messages; undefined until one of them has routing. */
  routing: (ForwardRouting | undefined)[] | undefined
  /** The batch in the packed encoding, made when it is first sent and kept for resends. */
  packed: Buffer | undefined
  bytes: number
  /** Sent at least once: if it is not acknowledged, the peer may have applied it. */
  sent: boolean
  /** Its time bound passed: it goes out as soon as there is credit. */
  due: boolean
  readonly promise: Promise<void>
  readonly resolve: () => void
  readonly reject: (error: TransportError) => void
}

interface Stream {
  readonly call: ForwardCall
  opened: boolean
}

/** Per-message overhead added to topic and payload lengths in the size estimate (properties, framing). */
const MESSAGE_OVERHEAD = 64

function sizeOf(message: Message): number {
  return message.topic.length + message.payload.length + MESSAGE_OVERHEAD
}

/** An already rejected acceptance that nobody has to handle (QoS 0 callers ignore it). */
function failed(error: TransportError): Promise<void> {
  const promise = Promise.reject(error)
  promise.catch(() => undefined)
  return promise
}

function newBatch(arrivals: number): Batch {
  let resolve!: () => void
  let reject!: (error: TransportError) => void
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  // Callers may ignore the promise (QoS 0): its rejection must not become an unhandled one.
  promise.catch(() => undefined)
  return { sequence: 0n, arrivals, messages: [], seqs: [], routing: undefined, packed: undefined, bytes: 0, sent: false, due: false, promise, resolve, reject }
}

export class PeerForwarder {
  readonly epoch: bigint
  private readonly maxBatchMessages: number
  private readonly maxBatchBytes: number
  private readonly maxBatchDelayMs: number
  private readonly maxPendingMessages: number
  private readonly maxPendingBytes: number
  private readonly retryMinMs: number
  private readonly retryMaxMs: number
  private readonly logger: Logger

  private nextSequence = 1n
  /** The batch still taking messages. */
  private open: Batch | undefined
  /** Sealed batches waiting for credit, oldest first; resent ones go back to the front. */
  private queue: Batch[] = []
  /** Sent on the current stream, not yet acknowledged, in sequence order. */
  private unacked: Batch[] = []
  private credit = 0
  /** The peer's life the last stream opened to (ForwardOpened.incarnation); undefined before any. */
  private peerIncarnation: bigint | undefined
  private stream: Stream | undefined
  private failuresInARow = 0
  private timer: NodeJS.Timeout | undefined
  private flushTimer: NodeJS.Timeout | undefined
  private readyWaiters: (() => void)[] = []
  private closed = false
  private fencedUpTo: number

  private pendingMessages = 0
  private pendingBytes = 0
  private acceptedMessages = 0
  private acceptedBatches = 0
  private rejectedBatches = 0
  private resentBatches = 0
  private streamFailures = 0

  constructor(private readonly options: PeerForwarderOptions) {
    this.epoch = options.epoch ?? randomStreamId()
    this.maxBatchMessages = options.maxBatchMessages ?? 256
    this.maxBatchBytes = options.maxBatchBytes ?? 1024 * 1024
    this.maxBatchDelayMs = options.maxBatchDelayMs ?? 0
    this.maxPendingMessages = options.maxPendingMessages ?? 8192
    this.maxPendingBytes = options.maxPendingBytes ?? 16 * 1024 * 1024
    this.retryMinMs = options.retryMinMs ?? 20
    this.retryMaxMs = options.retryMaxMs ?? 1000
    this.logger = options.logger
    this.fencedUpTo = options.fencedUpTo ?? 0
    this.connect()
  }

  /**
   * Queues a message for the peer. Returns a promise that resolves when the peer accepted the
   * batch holding it (every message of a batch shares one promise), or rejects with a
   * TransportError: Rejected (the peer's handler refused), PeerUnavailable (the breaker is open or
   * opened before the batch could be sent; `inDoubt` is false) or Closed. Returns false when the
   * memory bound is reached: nothing was queued; `ready()` tells when to try again. `arrivals`:
   * see InboundBatch.arrivals; a message routed under another count than the open batch's starts
   * a new batch. `seq`: see InboundBatch.seqs.
   */
  forward(message: Message, routing?: ForwardRouting, arrivals = 0, seq = 0): Promise<void> | false {
    const peer = this.options.peerNode
    if (this.closed) return failed(new TransportError(TransportErrorCode.Closed, `forwarder to ${peer} is closed`, { peer }))
    if (this.options.breaker.state === 'open') {
      return failed(new TransportError(TransportErrorCode.PeerUnavailable, `circuit breaker to ${peer} is open`, { peer }))
    }
    if (seq !== 0 && seq <= this.fencedUpTo) return failed(this.fencedError(false))
    const size = sizeOf(message)
    if (this.pendingMessages >= this.maxPendingMessages || (this.pendingBytes > 0 && this.pendingBytes + size > this.maxPendingBytes)) {
      return false
    }
    let batch = this.open
    if (batch !== undefined && ((batch.bytes > 0 && batch.bytes + size > this.maxBatchBytes) || batch.arrivals !== arrivals)) {
      this.seal()
      this.pump()
      batch = undefined
    }
    if (batch === undefined) {
      batch = newBatch(arrivals)
      this.open = batch
      this.scheduleFlush(batch)
    }
    if (routing !== undefined) (batch.routing ??= new Array<ForwardRouting | undefined>(batch.messages.length).fill(undefined)).push(routing)
    else batch.routing?.push(undefined)
    batch.messages.push(message)
    batch.seqs.push(seq)
    batch.bytes += size
    this.pendingMessages += 1
    this.pendingBytes += size
    if (batch.messages.length >= this.maxBatchMessages || batch.bytes >= this.maxBatchBytes) {
      this.seal()
      this.pump()
    }
    return batch.promise
  }

  /**
   * Resolves once every message forwarded so far was accepted or refused by the peer (or the
   * forwarder closed): a batch is acknowledged only after those before it, so the last one tells.
   */
  drained(): Promise<void> {
    if (this.open !== undefined) {
      this.seal()
      this.pump()
    }
    const last = this.queue[this.queue.length - 1] ?? this.unacked[this.unacked.length - 1]
    return last === undefined ? Promise.resolve() : last.promise.then(
      () => undefined,
      () => undefined,
    )
  }

  /**
   * This node lost the lease under which it routed every sequence up to `upTo`: another node may
   * serve those sessions now and must not get a decision made for them here (the peer refuses
   * such batches too once it knows; this stops the ones sent before it does). A batch holding such
   * a sequence that waits is failed now with Fenced; one on the wire is not sent again if its
   * stream breaks. Its publishers were never acknowledged: they send again wherever they are served.
   */
  fence(upTo: number): void {
    if (upTo <= this.fencedUpTo) return
    this.fencedUpTo = upTo
    const open = this.open
    if (open !== undefined && this.fenced(open)) {
      this.open = undefined
      this.clearFlush()
      this.settle(open, this.fencedError(false))
    }
    const waiting = this.queue
    this.queue = []
    for (const batch of waiting) {
      if (this.fenced(batch)) this.settle(batch, this.fencedError(batch.sent))
      else this.queue.push(batch)
    }
  }

  /** Resolves when `forward` is worth calling again: pending below half of both bounds, the breaker opened, or the forwarder closed. */
  ready(): Promise<void> {
    if (this.closed || this.options.breaker.state === 'open' || this.belowLowWater()) return Promise.resolve()
    return new Promise((resolve) => this.readyWaiters.push(resolve))
  }

  get stats(): ForwarderStats {
    return {
      pendingMessages: this.pendingMessages,
      pendingBytes: this.pendingBytes,
      unackedBatches: this.unacked.length,
      acceptedMessages: this.acceptedMessages,
      acceptedBatches: this.acceptedBatches,
      rejectedBatches: this.rejectedBatches,
      resentBatches: this.resentBatches,
      streamFailures: this.streamFailures,
    }
  }

  /** Stops forwarding: every batch not yet accepted is rejected with Closed (`inDoubt` when it was sent). */
  close(): void {
    if (this.closed) return
    this.closed = true
    clearTimeout(this.timer)
    this.clearFlush()
    const stream = this.stream
    this.stream = undefined
    stream?.call.cancel()
    const all = [...this.unacked, ...this.queue, ...(this.open === undefined ? [] : [this.open])]
    this.unacked = []
    this.queue = []
    this.open = undefined
    for (const batch of all) {
      this.settle(batch, new TransportError(TransportErrorCode.Closed, `forwarder to ${this.options.peerNode} closed`, { peer: this.options.peerNode, inDoubt: batch.sent }))
    }
    this.wakeReady(true)
  }

  private scheduleFlush(batch: Batch): void {
    const due = (): void => {
      if (this.open !== batch) return
      this.flushTimer = undefined
      batch.due = true
      this.pump()
    }
    // 0: due once the code that forwarded returns (a socket read's publishes, one fan-out), not
    // after the rest of the poll phase and a setImmediate: at a few thousand messages a second
    // each is its own turn, and the HTTP/2 session then writes it in this turn, not the next.
    if (this.maxBatchDelayMs === 0) queueMicrotask(due)
    else this.flushTimer = setTimeout(due, this.maxBatchDelayMs)
  }

  private clearFlush(): void {
    clearTimeout(this.flushTimer)
    this.flushTimer = undefined
  }

  private seal(): void {
    const batch = this.open
    if (batch === undefined) return
    this.clearFlush()
    this.open = undefined
    batch.sequence = this.nextSequence++
    this.queue.push(batch)
  }

  /**
   * Sends queued batches while there is credit. A due open batch is sealed when nothing else
   * waits in this queue; without credit it keeps filling, so a receiver that lags gets fewer,
   * larger batches instead of one per event-loop turn.
   */
  private pump(): void {
    const stream = this.stream
    if (stream === undefined || !stream.opened) return
    while (this.credit > 0) {
      if (this.queue.length === 0 && this.open?.due === true) this.seal()
      const batch = this.queue.shift()
      if (batch === undefined) return
      if (this.fenced(batch)) {
        this.settle(batch, this.fencedError(batch.sent))
        continue
      }
      if (batch.sent) this.resentBatches += 1
      batch.sent = true
      this.unacked.push(batch)
      this.credit -= 1
      batch.packed ??= packMessages(batch.messages, batch.routing, batch.arrivals, batch.seqs)
      stream.call.write(batchFrame(batch.sequence, batch.packed))
    }
  }

  private connect(): void {
    if (this.closed || this.stream !== undefined) return
    const call = new ForwardCall(this.options.sessions, this.options.maxMessageBytes, {
      onMessage: (message) => {
        if (this.stream === stream) this.onResponse(stream, message)
      },
      onEnd: (failure) =>
        this.onStreamEnd(stream, failure ?? new TransportError(TransportErrorCode.PeerUnavailable, `${this.options.peerNode} ended the forward stream`)),
    })
    const stream: Stream = { call, opened: false }
    this.stream = stream
    call.write(requestFrame({ kind: { case: 'open', value: { senderNode: this.options.localNode, receiverNode: this.options.peerNode, epoch: this.epoch } } }))
  }

  private onResponse(stream: Stream, message: Buffer): void {
    const kind = readResponse(message)
    if (kind.case === 'opened' && !stream.opened) {
      stream.opened = true
      this.credit = kind.value.credit
      this.metIncarnation(kind.value.incarnation)
      this.failuresInARow = 0
      const breaker = this.options.breaker
      if (breaker.state !== 'closed') this.logger.info({ failures: breaker.consecutiveFailures }, 'circuit breaker closed')
      breaker.recordSuccess()
      this.logger.debug({ credit: this.credit, resend: this.queue.filter((b) => b.sent).length }, 'forward stream open')
      this.pump()
    } else if (kind.case === 'ack' && stream.opened) {
      this.onAck(kind.value)
      this.pump()
    } else {
      throw new TransportError(TransportErrorCode.Protocol, `unexpected ${kind.case ?? 'empty'} response on the forward stream`)
    }
  }

  /**
   * A peer that restarted since this forwarder's last stream to it lost what its previous life
   * applied and holds no longer what those batches were routed to (its sessions moved on while it
   * was down): a batch sent to that life and not acknowledged is reported in doubt, not resent.
   * 0 is a peer that does not say.
   */
  private metIncarnation(incarnation: bigint): void {
    const previous = this.peerIncarnation
    this.peerIncarnation = incarnation
    if (previous === undefined || previous === incarnation || previous === 0n || incarnation === 0n) return
    const sent = this.queue.filter((batch) => batch.sent)
    if (sent.length === 0) return
    this.queue = this.queue.filter((batch) => !batch.sent)
    const peer = this.options.peerNode
    const restarted = new TransportError(TransportErrorCode.PeerUnavailable, `${peer} restarted: a batch sent to it before is in doubt`, { peer, inDoubt: true })
    this.logger.warn({ batches: sent.length, messages: sent.reduce((n, b) => n + b.messages.length, 0) }, 'peer restarted: batches it did not acknowledge are reported in doubt, not resent')
    for (const batch of sent) this.settle(batch, restarted)
  }

  private onAck(ack: AckFields): void {
    const batch = this.unacked[0]
    if (batch === undefined || batch.sequence !== ack.sequence) {
      throw new TransportError(TransportErrorCode.Protocol, `acknowledgement for sequence ${ack.sequence}, expected ${batch?.sequence ?? 'none'}`)
    }
    this.unacked.shift()
    this.credit += ack.credit
    if (ack.rejection === undefined) {
      this.acceptedBatches += 1
      this.acceptedMessages += batch.messages.length
      this.settle(batch, undefined)
    } else {
      this.rejectedBatches += 1
      const { code, message } = ack.rejection
      this.settle(batch, new TransportError(TransportErrorCode.Rejected, `${this.options.peerNode} refused a batch: ${message}`, { peer: this.options.peerNode, remoteCode: code }))
    }
  }

  private onStreamEnd(stream: Stream, failure: unknown): void {
    if (this.stream !== stream) return
    this.stream = undefined
    stream.call.cancel()
    if (this.closed) return
    this.streamFailures += 1
    // Unacknowledged batches go back to the front, in order, to be resent with the same keys.
    this.queue = [...this.unacked, ...this.queue]
    this.unacked = []
    this.credit = 0
    const error = callError(failure, this.options.peerNode)
    const breaker = this.options.breaker
    const probing = breaker.state === 'half-open'
    const opened = breaker.recordFailure()
    this.failuresInARow += 1
    if (!opened) {
      this.logger.warn({ err: error.message, failures: breaker.consecutiveFailures }, 'forward stream failed')
      const delay = Math.min(this.retryMaxMs, this.retryMinMs * 2 ** (this.failuresInARow - 1))
      this.timer = setTimeout(() => this.connect(), delay)
      return
    }
    // One warning when the peer goes down; the probes that keep failing after it are debug lines.
    if (probing) this.logger.debug({ err: error.message, failures: breaker.consecutiveFailures }, 'circuit breaker probe failed')
    else this.logger.warn({ err: error.message, failures: breaker.consecutiveFailures, openMs: breaker.openMs }, 'circuit breaker open')
    // What was never sent certainly did not arrive: fail it now. What was sent stays, to be resent
    // under its key once the peer is back, so its fate is never guessed.
    const unavailable = new TransportError(TransportErrorCode.PeerUnavailable, `${this.options.peerNode} is unavailable: ${error.message}`, {
      peer: this.options.peerNode,
      cause: error,
    })
    const keep: Batch[] = []
    for (const batch of this.queue) {
      if (batch.sent) keep.push(batch)
      else this.settle(batch, unavailable)
    }
    this.queue = keep
    if (this.open !== undefined) {
      this.settle(this.open, unavailable)
      this.open = undefined
      this.clearFlush()
    }
    this.timer = setTimeout(() => this.connect(), breaker.remainingOpenMs())
    // Whoever waits to forward more learns now that forwarding fails fast, not when the peer is back.
    this.wakeReady(true)
  }

  private fenced(batch: Batch): boolean {
    // Every batch is checked before it is sent; no fence (the common case) costs one comparison.
    if (this.fencedUpTo === 0) return false
    for (const seq of batch.seqs) if (seq !== 0 && seq <= this.fencedUpTo) return true
    return false
  }

  private fencedError(inDoubt: boolean): TransportError {
    const peer = this.options.peerNode
    return new TransportError(TransportErrorCode.Fenced, `not forwarded to ${peer}: routed under a lease this node lost`, { peer, inDoubt })
  }

  private settle(batch: Batch, error: TransportError | undefined): void {
    this.pendingMessages -= batch.messages.length
    this.pendingBytes -= batch.bytes
    if (error === undefined) batch.resolve()
    else batch.reject(error)
    this.wakeReady(false)
  }

  private belowLowWater(): boolean {
    return this.pendingMessages <= this.maxPendingMessages / 2 && this.pendingBytes <= this.maxPendingBytes / 2
  }

  private wakeReady(force: boolean): void {
    if (this.readyWaiters.length === 0 || (!force && !this.belowLowWater())) return
    const waiters = this.readyWaiters
    this.readyWaiters = []
    for (const wake of waiters) wake()
  }
}
