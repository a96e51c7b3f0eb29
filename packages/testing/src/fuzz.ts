import { connect as netConnect } from 'node:net'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { seededRandom } from './random.js'
import type { RecordingLogger } from './recording-logger.js'

/** What one fuzz connection sends: the bytes, then a half-close or nothing (the server must end it either way). */
export interface FuzzInput {
  readonly bytes: Buffer
  readonly endFromClient: boolean
}

/** The broker under fuzz, structurally (this package imports no broker code). */
export interface FuzzedBroker {
  tick(now: number): void
  readonly stats: { readonly sessionsCurrent: number }
}

export interface FuzzOptions {
  /** The listener under fuzz, on 127.0.0.1. */
  readonly port: number
  readonly seconds: number
  /** Each worker draws from `seededRandom(seed + index * 7919)`, so its inputs replay from the seed. */
  readonly seed: number
  readonly workers: number
  /** Fuzz connections a worker keeps open at once (1: one after the other). */
  readonly perWorker: number
  /** A connection the server has not closed this long after the client wrote its last byte is a hang. */
  readonly hangMs: number
  /**
   * Chance that a connection is a slow peer: its chunks a few milliseconds apart, so they reach the
   * server as separate reads and frames arrive in pieces. 0: every chunk is written at once.
   */
  readonly slowPeerChance: number
  /** Below this many fuzz connections a second the run did not fuzz enough to mean anything. */
  readonly minConnectionsPerSecond: number
  /** One input in the protocol's terms: its valid frames, mutated, spliced, cut or absurd. */
  input(random: () => number, id: number): FuzzInput
  /** The well-behaved client's round trip through the broker; rejects when it fails or is late. */
  roundTrip(n: number): Promise<void>
  /** Connections the server holds: only the well-behaved client's once the fuzz is done. */
  connections(): number
  /** The broker's logger: an error line means a handler failed in a way it did not expect. */
  readonly logger: RecordingLogger
  /** Started with a max session expiry of 1 s, so that the sessions the fuzz left expire before the heap is read. */
  readonly broker: FuzzedBroker
}

export interface FuzzReport {
  readonly connections: number
  /** Retained heap growth over the run, in bytes, after the fuzz's sessions expired. */
  readonly heapGrowth: number
}

/** Sessions the fuzz left expire after 1 s (the broker's max expiry); a little more for the clock. */
const SESSION_EXPIRY_MS = 1200
/** How long the server may take to close the last fuzz connections once the run is over. */
const SETTLE_MS = 2000
/** Above this the broker keeps something for every bad connection: a leak. */
const MAX_HEAP_GROWTH = 8 * 1024 * 1024

/**
 * Fuzzes a protocol listener over real TCP for `seconds`: `workers` generators send random and
 * mutated inputs while a well-behaved client keeps round-tripping through the same broker. Throws
 * (naming the seed) on an unhandled rejection or exception, an error log line, a connection the
 * server never closes, a failed round trip, too few connections, connections left on the server,
 * or retained heap growth of 8 MiB or more once the fuzz's sessions expired.
 */
export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const { seed, seconds } = options
  console.log(`fuzz seed ${seed} (TEST_SEED=${seed} replays it), ${seconds}s`)
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason)
  }
  process.on('unhandledRejection', onUnhandled)
  process.on('uncaughtException', onUnhandled)
  try {
    await options.roundTrip(-2)
    const lines = options.logger.lines
    lines.length = 0
    const heapBefore = retainedHeap()
    const deadline = Date.now() + seconds * 1000
    let connections = 0
    let id = 0
    const worker = async (index: number): Promise<void> => {
      const random = seededRandom(seed + index * 7919)
      const open = new Set<Promise<void>>()
      while (Date.now() < deadline) {
        const input = options.input(random, id++)
        const closed = fuzzConnection(options, input, random).then(() => {
          open.delete(closed)
          connections++
        })
        open.add(closed)
        if (open.size >= options.perWorker) await Promise.race(open)
      }
      await Promise.all(open)
    }
    const pinger = async (): Promise<void> => {
      let n = 0
      while (Date.now() < deadline) {
        await options.roundTrip(n++)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }
    await Promise.all([pinger(), ...Array.from({ length: options.workers }, (_, index) => worker(index))])
    await options.roundTrip(-1)

    const failed = (what: string): Error => new Error(`fuzz (seed ${seed}): ${what}`)
    if (unhandled.length > 0) throw failed(`unhandled rejection or exception: ${unhandled.map(String).join('; ')}`)
    const errors = lines.filter((l) => l.level === 'error')
    if (errors.length > 0) throw failed(`error log lines: ${JSON.stringify(errors)}`)
    if (connections <= seconds * options.minConnectionsPerSecond) throw failed(`only ${connections} connections in ${seconds}s`)
    const settle = Date.now() + SETTLE_MS
    while (options.connections() > 1 && Date.now() < settle) await new Promise((resolve) => setTimeout(resolve, 10))
    if (options.connections() !== 1) throw failed(`${options.connections()} connections on the server, only the well-behaved client's should be left`)
    await new Promise((resolve) => setTimeout(resolve, SESSION_EXPIRY_MS))
    options.broker.tick(Date.now())
    // The recording logger keeps every line (one or more per fuzz connection); it is not the broker's memory.
    lines.length = 0
    const heapGrowth = retainedHeap() - heapBefore
    const mib = (heapGrowth / 1048576).toFixed(1)
    console.log(`fuzz: ${connections} connections, retained heap growth ${mib} MiB, sessions left ${options.broker.stats.sessionsCurrent}`)
    if (heapGrowth >= MAX_HEAP_GROWTH) throw failed(`retained heap grew by ${mib} MiB`)
    return { connections, heapGrowth }
  } finally {
    process.off('unhandledRejection', onUnhandled)
    process.off('uncaughtException', onUnhandled)
  }
}

/** Sends the input in random chunks; resolves once the server closed the connection, rejects at a hang. */
function fuzzConnection(options: FuzzOptions, input: FuzzInput, random: () => number): Promise<void> {
  const { bytes, endFromClient } = input
  // Every decision is made up front: the input replays from the seed whatever the I/O timing.
  const chunks: Buffer[] = []
  for (let offset = 0; offset < bytes.length; ) {
    const size = 1 + Math.floor(random() * 48)
    chunks.push(bytes.subarray(offset, offset + size))
    offset += size
  }
  const pauseMs = options.slowPeerChance > 0 && random() < options.slowPeerChance ? 1 + Math.floor(random() * 4) : 0
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: '127.0.0.1', port: options.port })
    let hang: NodeJS.Timeout | undefined
    socket.on('error', () => {})
    socket.on('data', () => {})
    socket.on('close', () => {
      clearTimeout(hang)
      resolve()
    })
    socket.on('connect', async () => {
      for (const chunk of chunks) {
        if (socket.destroyed) break
        socket.write(chunk)
        if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs))
      }
      if (endFromClient && !socket.destroyed) socket.end()
      // The server must end every connection: by a protocol error, its time-outs, or our half-close.
      hang = setTimeout(() => {
        socket.destroy()
        const how = endFromClient ? 'half-closed by the client' : 'left open by the client'
        reject(new Error(`fuzz connection (${how}) not closed by the server within ${options.hangMs} ms (seed ${options.seed}); input ${bytes.toString('hex')}`))
      }, options.hangMs)
    })
  })
}

let collect: (() => void) | undefined

/** The heap after a full collection, so that a bound measures what is retained, not garbage. */
function retainedHeap(): number {
  if (collect === undefined) {
    setFlagsFromString('--expose-gc')
    collect = runInNewContext('gc') as () => void
  }
  collect()
  return process.memoryUsage().heapUsed
}
