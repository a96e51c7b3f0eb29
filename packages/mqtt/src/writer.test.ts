import { Duplex } from 'node:stream'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { BatchedWriter, FlushScheduler, StallWatch } from './writer.js'
import type { TrafficSink, WriterOwner } from './writer.js'

/** A duplex that records each write call (writev = one syscall in a socket) and can stall. */
class RecordingStream extends Duplex {
  readonly calls: Buffer[][] = []
  stalled = false
  /** Write callbacks held while stalled: the bytes the "socket" has not accepted. */
  private held: ((err?: Error | null) => void)[] = []

  override _read(): void {}

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.calls.push([chunk])
    if (this.stalled) this.held.push(cb)
    else cb()
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    this.calls.push(chunks.map((c) => c.chunk))
    if (this.stalled) this.held.push(cb)
    else cb()
  }

  /** The peer reads again: what was held is accepted. */
  accept(): void {
    this.stalled = false
    for (const cb of this.held.splice(0)) cb()
  }
}

const counting = () => {
  const totals = { received: 0, sent: 0, reports: 0 }
  return { totals, sink: { countBytes: (r: number, s: number) => ((totals.received += r), (totals.sent += s), totals.reports++), durable: () => undefined } }
}

const IGNORE_OWNER: WriterOwner = { clientId: 'c', onWritable: () => {}, onWriteStall: () => {} }
/** An owner that only names its session: whose write-ahead barrier its packets wait for. */
const sessionOf = (clientId: string): WriterOwner => ({ ...IGNORE_OWNER, clientId })
const NO_STALLS = new StallWatch(0)
const PLAIN_SINK: TrafficSink = { countBytes: () => {}, durable: () => undefined }

/** One writer on a fresh RecordingStream, with a scheduler of its own. */
const writerOn = (sink: TrafficSink = PLAIN_SINK, maxWriteBuffer = 1 << 20, owner: WriterOwner = IGNORE_OWNER, stalls = NO_STALLS) => {
  const stream = new RecordingStream()
  const scheduler = new FlushScheduler(sink)
  return { stream, scheduler, writer: new BatchedWriter(stream, scheduler, maxWriteBuffer, owner, stalls) }
}

describe('BatchedWriter', () => {
  it('writes every packet of one event-loop turn in one write call and reports bytes once', async () => {
    const { totals, sink } = counting()
    const scheduler = new FlushScheduler(sink)
    const a = new RecordingStream()
    const b = new RecordingStream()
    const wa = new BatchedWriter(a, scheduler, 1 << 20, IGNORE_OWNER, NO_STALLS)
    const wb = new BatchedWriter(b, scheduler, 1 << 20, IGNORE_OWNER, NO_STALLS)
    wa.write(Buffer.from('1'))
    wa.write(Buffer.from('22'))
    wa.write(Buffer.from('333'))
    wb.write(Buffer.from('4444'))
    scheduler.countReceived(10)
    expect(a.calls).toEqual([])
    await nextTurn()
    // Small packets are joined into one buffer (one write, one syscall), in order.
    expect(a.calls).toEqual([[Buffer.from('122333')]])
    expect(b.calls).toEqual([[Buffer.from('4444')]])
    expect(totals).toEqual({ received: 10, sent: 10, reports: 1 })
  })

  it('a turn of more than 16 KiB goes out uncopied in one writev', async () => {
    const { stream, writer } = writerOn()
    const big = [Buffer.alloc(8192, 1), Buffer.alloc(8192, 2), Buffer.alloc(1, 3)]
    for (const b of big) writer.write(b)
    await nextTurn()
    expect(stream.calls).toHaveLength(1)
    expect(stream.calls[0]!.every((chunk, i) => chunk === big[i])).toBe(true)
  })

  it('has no room past maxWriteBuffer (queued and unaccepted bytes together) and says so once the stream drains', async () => {
    let writable = 0
    const { stream, scheduler, writer } = writerOn(PLAIN_SINK, 100, { clientId: 'c', onWritable: () => writable++, onWriteStall: () => {} })
    stream.stalled = true
    writer.write(Buffer.alloc(60))
    expect(writer.hasRoom()).toBe(true)
    writer.write(Buffer.alloc(60))
    // Not written yet: what this turn queued counts too.
    expect(writer.hasRoom()).toBe(false)
    expect(scheduler.bufferedBytes).toBe(120)
    await nextTurn()
    expect(stream.writableLength).toBe(120)
    expect(writer.hasRoom()).toBe(false)
    expect(writable).toBe(0)
    stream.accept()
    await nextTurn()
    expect(writable).toBe(1)
    expect(writer.hasRoom()).toBe(true)
    expect(scheduler.bufferedBytes).toBe(0)
  })

  it('a starved writer whose turn was only queued (not in the stream) gets room back when the turn is flushed', async () => {
    let writable = 0
    const { writer } = writerOn(PLAIN_SINK, 100, { clientId: 'c', onWritable: () => writable++, onWriteStall: () => {} })
    writer.write(Buffer.alloc(150))
    expect(writer.hasRoom()).toBe(false)
    await nextTurn()
    expect(writable).toBe(1)
  })

  it('StallWatch reports a socket that accepts no byte for the stall time, never one that keeps reading slowly', async () => {
    let now = 0
    const stalls = new StallWatch(1000, () => now)
    const stalledOnes: string[] = []
    const owner = (name: string): WriterOwner => ({ clientId: name, onWritable: () => {}, onWriteStall: () => stalledOnes.push(name) })
    const dead = writerOn(PLAIN_SINK, 1 << 20, owner('dead'), stalls)
    const slow = writerOn(PLAIN_SINK, 1 << 20, owner('slow'), stalls)
    dead.stream.stalled = true
    slow.stream.stalled = true
    dead.writer.write(Buffer.alloc(10))
    slow.writer.write(Buffer.alloc(10))
    await nextTurn()
    for (let t = 1; t <= 4; t++) {
      now = t * 400
      // The slow reader accepts what it was sent, and is sent more.
      slow.stream.accept()
      slow.stream.stalled = true
      slow.writer.write(Buffer.alloc(10))
      await nextTurn()
      stalls.sweep()
    }
    expect(stalledOnes).toEqual(['dead'])
    stalls.stop()
  })

  it('end() writes what is still owed, then the last packet, half-closes, and destroys after the linger time', async () => {
    const { stream, writer } = writerOn()
    writer.write(Buffer.from('a'))
    writer.end(Buffer.from('b'), 50)
    // An acknowledgement settled after end() was called (its commit came later) still precedes the last packet.
    await Promise.resolve()
    writer.write(Buffer.from('owed'))
    const finished = new Promise((resolve) => stream.once('finish', resolve))
    await finished
    writer.write(Buffer.from('ignored'))
    expect(stream.writableEnded).toBe(true)
    await new Promise((resolve) => stream.once('close', resolve))
    expect(Buffer.concat(stream.calls.flat())).toEqual(Buffer.from('aowedb'))
    expect(stream.destroyed).toBe(true)
  })

  it('end() destroys a stream that never drains after the linger time', async () => {
    const { stream, writer } = writerOn()
    stream.stalled = true
    writer.end(Buffer.from('bye'), 20)
    await new Promise((resolve) => stream.once('close', resolve))
    expect(stream.destroyed).toBe(true)
  })

  it('flushRead() writes the first read\'s packets at once; later reads of the turn wait for the turn\'s flush', async () => {
    const { scheduler, stream, writer } = writerOn()
    writer.write(Buffer.from('a'))
    writer.write(Buffer.from('b'))
    scheduler.flushRead()
    expect(stream.calls).toEqual([[Buffer.from('ab')]])
    writer.write(Buffer.from('c'))
    scheduler.flushRead()
    writer.write(Buffer.from('d'))
    expect(stream.calls).toEqual([[Buffer.from('ab')]])
    await nextTurn()
    expect(stream.calls).toEqual([[Buffer.from('ab')], [Buffer.from('cd')]])
    // A new turn: its first read writes at once again.
    writer.write(Buffer.from('e'))
    scheduler.flushRead()
    expect(stream.calls).toHaveLength(3)
  })

  it('flushRead() after a read that produced nothing leaves the turn\'s early write to a later read', async () => {
    const { scheduler, stream, writer } = writerOn()
    scheduler.flushRead()
    writer.write(Buffer.from('a'))
    scheduler.flushRead()
    expect(stream.calls).toEqual([[Buffer.from('a')]])
  })

  describe('write-ahead barrier per session', () => {
    /**
     * A sink whose sessions wait for commits the test completes by hand, like a pending SQLite
     * commit. A session's dependency is answered for the turn that staged it only, so a later
     * turn of the same connection needs no barrier of its own.
     */
    const gated = () => {
      const commits: Array<() => void> = []
      const staged = new Map<string, Promise<void>>()
      const sink = {
        countBytes: () => {},
        durable: (clientId?: string): Promise<void> | undefined => {
          if (clientId === undefined) return undefined
          const barrier = staged.get(clientId)
          staged.delete(clientId)
          return barrier
        },
        /** Storage writes for these sessions are staged this turn, in one commit. */
        stage: (...clientIds: string[]) => {
          const commit = new Promise<void>((resolve) => commits.push(resolve))
          for (const clientId of clientIds) staged.set(clientId, commit)
        },
      }
      return { sink, commits }
    }

    it('holds a connection\'s packets until the storage writes staged for its session are durable', async () => {
      const { sink, commits } = gated()
      const { stream, writer } = writerOn(sink, 1 << 20, sessionOf('stored'))
      sink.stage('stored')
      writer.write(Buffer.from('pubrel'))
      await nextTurn()
      expect(stream.calls).toEqual([])
      commits[0]!()
      await nextTurn()
      expect(stream.calls).toEqual([[Buffer.from('pubrel')]])
    })

    it('a clean session\'s QoS 0 delivery is written while another session\'s commit is pending; the stored one waits', async () => {
      const { sink, commits } = gated()
      const scheduler = new FlushScheduler(sink)
      const stored = new RecordingStream()
      const clean = new RecordingStream()
      const ws = new BatchedWriter(stored, scheduler, 1 << 20, sessionOf('stored'), NO_STALLS)
      const wc = new BatchedWriter(clean, scheduler, 1 << 20, sessionOf('clean'), NO_STALLS)
      // One publish routed to both: the stored subscriber's inflight record was written.
      sink.stage('stored')
      ws.write(Buffer.from('qos1'))
      wc.write(Buffer.from('qos0'))
      await nextTurn()
      expect(clean.calls).toEqual([[Buffer.from('qos0')]])
      expect(stored.calls).toEqual([])
      // Later turns: the clean connection keeps flowing; the stored one's later packets (no new
      // write of their own) queue behind its held batch, in order.
      wc.write(Buffer.from('next0'))
      ws.write(Buffer.from('next'))
      await nextTurn()
      expect(clean.calls).toEqual([[Buffer.from('qos0')], [Buffer.from('next0')]])
      expect(stored.calls).toEqual([])
      commits[0]!()
      await nextTurn()
      expect(stored.calls).toEqual([[Buffer.from('qos1')], [Buffer.from('next')]])
    })

    it('flushRead() holds a read\'s packets behind the barrier staged with them', async () => {
      const { sink, commits } = gated()
      const { scheduler, stream, writer } = writerOn(sink, 1 << 20, sessionOf('stored'))
      sink.stage('stored')
      writer.write(Buffer.from('puback'))
      scheduler.flushRead()
      await Promise.resolve()
      expect(stream.calls).toEqual([])
      // The turn's own flush finds nothing new and must not overtake the held batch.
      writer.write(Buffer.from('later'))
      await nextTurn()
      expect(stream.calls).toEqual([])
      commits[0]!()
      await nextTurn()
      expect(stream.calls).toEqual([[Buffer.from('puback')], [Buffer.from('later')]])
    })

    it('writes a connection\'s held batches in turn order, even when a later turn needs no barrier or a later commit comes first', async () => {
      const { sink, commits } = gated()
      const { stream, writer } = writerOn(sink, 1 << 20, sessionOf('stored'))
      sink.stage('stored')
      writer.write(Buffer.from('1'))
      await nextTurn()
      writer.write(Buffer.from('2'))
      await nextTurn()
      sink.stage('stored')
      writer.write(Buffer.from('3'))
      await nextTurn()
      writer.end(Buffer.from('4'), 1000)
      commits[1]!()
      await nextTurn()
      await nextTurn()
      expect(stream.calls).toEqual([])
      commits[0]!()
      await new Promise((resolve) => stream.once('close', resolve))
      expect(stream.calls).toEqual([[Buffer.from('1')], [Buffer.from('2')], [Buffer.from('3')], [Buffer.from('4')]])
    })

    it('destroys the connections of a batch whose barrier fails, writing nothing', async () => {
      const { stream, writer } = writerOn({ countBytes: () => {}, durable: () => Promise.reject(new Error('disk full')) })
      stream.on('error', () => {})
      writer.write(Buffer.from('puback'))
      await new Promise((resolve) => stream.once('close', resolve))
      expect(stream.calls).toEqual([])
    })

    it('the last packet waits for every staged write: acknowledgements owed to the connection depend on other sessions\' commits', async () => {
      let commit!: () => void
      const everything = new Promise<void>((resolve) => (commit = resolve))
      const { stream, writer } = writerOn({ countBytes: () => {}, durable: (clientId?: string) => (clientId === undefined ? everything : undefined) })
      writer.write(Buffer.from('a'))
      // A PUBACK owed to this connection, waiting on its PublishResult.durable (that same commit).
      void everything.then(() => writer.write(Buffer.from('puback')))
      writer.end(Buffer.from('disconnect'), 1000)
      await nextTurn()
      await nextTurn()
      expect(stream.calls).toEqual([[Buffer.from('a')]])
      commit()
      await new Promise((resolve) => stream.once('close', resolve))
      expect(stream.calls).toEqual([[Buffer.from('a')], [Buffer.from('pubackdisconnect')]])
    })
  })
})
