import { createRequire } from 'node:module'
import { connect as netConnect } from 'node:net'
import { randomBytes, runFuzz } from '@fluxmq/testing'
import type { FuzzInput } from '@fluxmq/testing'
import rhea from 'rhea'
import type { Connection, EventContext, Receiver, Sender } from 'rhea'
import type { frames as RheaFrames } from 'rhea/typings/frames.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openConnection, openReceiver, openSender, startBroker } from './test-support/harness.js'
import type { TestBroker } from './test-support/harness.js'

const SECONDS = Number(process.env['TEST_FUZZ_SECONDS'] ?? 10)
const SEED = Number(process.env['TEST_SEED'] ?? Math.floor(Math.random() * 0x7fffffff))
const WORKERS = 6
const CONNECT_TIMEOUT_MS = 300
/**
 * Advertised idle time-out: a fuzz peer that opened and then says nothing is closed after twice
 * this. Not shorter: the good client shares this process's event loop with the fuzz, and on a
 * loaded machine a loop stall of twice this would close it for idleness.
 */
const IDLE_TIMEOUT_MS = 2500
/** Fuzz connections a worker keeps open at once (those left open wait for the idle time-out). */
const PER_WORKER = 8
/** A connection the server has not closed this long after the client is done with it is a hang. */
const HANG_MS = 5000
const MAX_FRAME_SIZE = 4096
/** The good client's round trip bound: generous for a loaded machine, short of the test's time-out. */
const ROUND_TRIP_MS = 5000

// rhea's own frame and terminus encoders (not in its public API, but plain modules of the package):
// valid frames are what the fuzz mutates, so they come from the encoder clients really use.
const require = createRequire(import.meta.url)
const frames = require('rhea/lib/frames.js') as RheaFrames
const terminus = require('rhea/lib/terminus.js') as {
  source(fields: object): { described(): unknown }
  target(fields: object): { described(): unknown }
}
const outcomes = require('rhea/lib/message.js') as { accepted(): { described(): unknown }; rejected(fields: object): { described(): unknown } }

const AMQP_HEADER = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 1, 0, 0])
const SASL_HEADER = Buffer.from([0x41, 0x4d, 0x51, 0x50, 3, 1, 0, 0])

const amqp = (performative: unknown, channel = 0, payload?: Buffer): Buffer => frames.write_frame(frames.amqp_frame(channel, performative, payload))
const sasl = (performative: unknown): Buffer => frames.write_frame(frames.sasl_frame(performative))

function message(body: Buffer, extra: object = {}): Buffer {
  return rhea.message.encode({ body: rhea.message.data_section(body), application_properties: { k: 'v' }, subject: 's', ...extra })
}

/** The SASL exchange and OPEN/BEGIN a client starts with: ANONYMOUS, or skipping SASL (allowed here). */
function handshake(random: () => number, id: number): Buffer[] {
  const parts: Buffer[] = []
  if (random() < 0.5) {
    parts.push(SASL_HEADER, sasl(frames.sasl_init({ mechanism: 'ANONYMOUS', initial_response: Buffer.from('fuzz') })))
  }
  parts.push(AMQP_HEADER, amqp(frames.open({ container_id: `fuzz-${id}`, max_frame_size: MAX_FRAME_SIZE, idle_time_out: 0 })))
  parts.push(amqp(frames.begin({ next_outgoing_id: 0, incoming_window: 2048, outgoing_window: 2048 })))
  return parts
}

/**
 * Valid frames after the handshake: attaches in both roles to good, wildcard, queue, unknown and
 * empty addresses, flows, transfers (settled or not, multi-frame, with odd fields), dispositions,
 * detaches, end, close; and SASL frames out of place.
 */
function corpus(): Buffer[] {
  const attach = (handle: number, role: boolean, address: string | undefined, extra: object = {}): Buffer =>
    amqp(
      frames.attach({
        name: `link-${handle}`,
        handle,
        role,
        source: terminus.source(address === undefined ? {} : { address }).described(),
        target: terminus.target(address === undefined ? {} : { address }).described(),
        initial_delivery_count: 0,
        ...extra,
      }),
    )
  const transfer = (handle: number, deliveryId: number, fields: object, payload: Buffer): Buffer =>
    amqp(frames.transfer({ handle, delivery_id: deliveryId, delivery_tag: Buffer.from([deliveryId]), message_format: 0, ...fields }), 0, payload)
  const body = message(Buffer.from('fuzz body'))
  return [
    attach(0, false, 'fuzz/a'),
    attach(1, true, 'fuzz/#'),
    attach(2, false, '$queue/fuzz'),
    attach(3, true, '$queue/fuzz', { properties: { 'consumer-group': 'g' } }),
    attach(4, false, 'fuzz/+'),
    attach(5, true, '$weird/x'),
    attach(6, false, undefined),
    attach(0, true, 'fuzz/a', { snd_settle_mode: 1, rcv_settle_mode: 1 }),
    amqp(frames.flow({ next_incoming_id: 0, incoming_window: 2048, next_outgoing_id: 0, outgoing_window: 2048, handle: 1, delivery_count: 0, link_credit: 100 })),
    amqp(frames.flow({ incoming_window: 0, next_outgoing_id: 7, outgoing_window: 0, handle: 9, link_credit: 0xffffffff, drain: true, echo: true })),
    transfer(0, 0, {}, body),
    transfer(0, 1, { settled: true }, body),
    transfer(0, 2, { more: true }, body.subarray(0, 5)),
    transfer(0, 2, {}, body.subarray(5)),
    transfer(2, 3, {}, message(Buffer.alloc(64, 1), { properties: { correlation_id: 'c', reply_to: 'r', content_type: 'x' } })),
    transfer(0, 4, { aborted: true }, body),
    transfer(7, 5, {}, body),
    transfer(0, 6, { message_format: 99 }, Buffer.from('not amqp')),
    transfer(0, 7, {}, rhea.message.encode({ body: 'an amqp-value string' })),
    amqp(frames.disposition({ role: true, first: 0, last: 10, settled: true, state: outcomes.accepted().described() })),
    amqp(frames.disposition({ role: false, first: 0, settled: false, state: outcomes.rejected({}).described() })),
    amqp(frames.disposition({ role: true, first: 5, last: 1 })),
    amqp(frames.detach({ handle: 0, closed: true })),
    amqp(frames.detach({ handle: 42 })),
    amqp(frames.begin({ remote_channel: 3, next_outgoing_id: 0, incoming_window: 1, outgoing_window: 1 }), 1),
    amqp(frames.end({})),
    amqp(frames.end({}), 5),
    amqp(frames.close({})),
    amqp(frames.open({ container_id: 'again' })),
    sasl(frames.sasl_init({ mechanism: 'PLAIN', initial_response: Buffer.from('\0user\0pass') })),
    SASL_HEADER,
    AMQP_HEADER,
    // An empty frame: a heartbeat.
    Buffer.from([0, 0, 0, 8, 2, 0, 0, 0]),
  ]
}

/**
 * One fuzz input: usually a valid handshake, then random, mutated, spliced or absurd frames.
 * Connections that never opened must be closed by the connect time-out; opened ones by protocol
 * errors, the idle time-out or, half the time, our half-close.
 */
function fuzzInput(random: () => number, valid: readonly Buffer[], id: number): FuzzInput {
  const int = (n: number): number => Math.floor(random() * n)
  const parts: Buffer[] = []
  const opened = random() < 0.8
  if (opened) {
    const hs = handshake(random, id)
    // Sometimes the handshake itself is the target: one of its frames mutated.
    if (random() < 0.2) {
      const i = int(hs.length)
      const frame = Buffer.from(hs[i]!)
      frame[int(frame.length)] = int(256)
      hs[i] = frame
    }
    parts.push(...hs)
  } else if (random() < 0.5) {
    // A protocol header with a wrong id or version.
    parts.push(Buffer.from([0x41, 0x4d, 0x51, 0x50, int(5), int(3), int(2), int(2)]))
  }
  const count = 1 + int(12)
  for (let i = 0; i < count; i++) {
    const kind = random()
    if (kind < 0.12) {
      parts.push(randomBytes(random, 1 + int(64)))
      continue
    }
    const base = Buffer.from(valid[int(valid.length)]!)
    if (kind < 0.5) {
      parts.push(base)
    } else if (kind < 0.8) {
      // Flip a few bytes past the frame header: the performative's types, lengths and fields.
      const flips = 1 + int(3)
      for (let f = 0; f < flips; f++) base[Math.min(base.length - 1, 8 + int(Math.max(1, base.length - 8)))] = int(256)
      parts.push(base)
    } else if (kind < 0.86) {
      parts.push(base.subarray(0, int(base.length)))
    } else if (kind < 0.93) {
      // A frame header that lies: absurd or too small sizes, a bad data offset, an unknown type.
      const header = Buffer.from(base.subarray(0, 8))
      const lie = int(4)
      if (lie === 0) header.writeUInt32BE(random() < 0.5 ? 0xffffffff : MAX_FRAME_SIZE + 1 + int(1 << 20), 0)
      else if (lie === 1) header.writeUInt32BE(int(8), 0)
      else if (lie === 2) header[4] = int(2)
      else header[5] = 2 + int(254)
      parts.push(Buffer.concat([header, base.subarray(8)]))
    } else {
      // Two frames spliced mid-way.
      const other = valid[int(valid.length)]!
      parts.push(Buffer.concat([base.subarray(0, int(base.length)), other.subarray(int(other.length))]))
    }
  }
  return { bytes: Buffer.concat(parts), endFromClient: random() < 0.5 }
}

describe('fuzz', () => {
  let t: TestBroker
  let good: Connection
  let goodSender: Sender
  let goodReceiver: Receiver

  beforeAll(async () => {
    // Broker state the fuzz legitimately creates is capped (short offline queues, no retained
    // messages), so heap growth beyond it points at a leak.
    t = await startBroker(
      { maxFrameSize: MAX_FRAME_SIZE, maxMessageSize: 16 * 1024, connectTimeoutMs: CONNECT_TIMEOUT_MS, idleTimeoutMs: IDLE_TIMEOUT_MS, window: 8, creditWindow: 16 },
      { defaultExpiry: 1, maxExpiry: 1, maxOfflineMessages: 10 },
    )
    good = await openConnection({ port: t.port, container_id: 'fuzz-well-behaved-client', username: 'anonymous' })
    goodReceiver = await openReceiver(good, { source: { address: 'good/echo' }, credit_window: 10 })
    goodSender = await openSender(good, { target: { address: 'good/echo' } })
  })

  afterAll(async () => {
    good?.close()
    await t?.close()
  })

  /**
   * The well-behaved client sends to itself, unsettled: the broker accepts it and it comes back,
   * within ROUND_TRIP_MS however busy the fuzz keeps the broker.
   */
  async function goodRoundTrip(n: number): Promise<void> {
    const payload = `ping-${n}`
    const listeners: (() => void)[] = []
    const got = new Promise<void>((resolve) => {
      const onMessage = (context: EventContext): void => {
        if (Buffer.from(context.message?.body.content as Buffer).toString() === payload) resolve()
      }
      goodReceiver.on('message', onMessage)
      listeners.push(() => goodReceiver.off('message', onMessage))
    })
    const accepted = new Promise<void>((resolve, reject) => {
      const delivery = goodSender.send({ body: rhea.message.data_section(Buffer.from(payload)) })
      for (const outcome of ['accepted', 'rejected', 'released', 'modified'] as const) {
        const onOutcome = (context: EventContext): void => {
          if (context.delivery?.id !== delivery.id) return
          if (outcome === 'accepted') resolve()
          else reject(new Error(`ping ${n} ${outcome} (seed ${SEED})`))
        }
        goodSender.on(outcome, onOutcome)
        listeners.push(() => goodSender.off(outcome, onOutcome))
      }
    })
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`ping ${n} not accepted and back within ${ROUND_TRIP_MS} ms (seed ${SEED})`)), ROUND_TRIP_MS)
    })
    try {
      await Promise.race([Promise.all([accepted, got]), late])
    } finally {
      clearTimeout(timer)
      for (const off of listeners) off()
    }
  }

  // Found by this fuzz (a seed whose input ended inside a frame, written in small chunks): rhea
  // clears its idle timer on every read and re-arms it only after a read that completed a frame,
  // so a peer that stops in the middle of a frame it announced was never closed.
  it('a peer that opens, then stops in the middle of a frame, is closed by the idle time-out', async () => {
    const hello = Buffer.concat(handshake(() => 0.9, -1))
    const partial = [Buffer.from([0, 0, 0, 64, 2, 0, 0, 0]), Buffer.from([0x00, 0x53])]
    const closed = new Promise<number>((resolve, reject) => {
      const socket = netConnect({ host: '127.0.0.1', port: t.port })
      const started = Date.now()
      const hang = setTimeout(() => {
        socket.destroy()
        reject(new Error(`not closed within ${HANG_MS + 2 * IDLE_TIMEOUT_MS} ms`))
      }, HANG_MS + 2 * IDLE_TIMEOUT_MS)
      socket.on('error', () => {})
      socket.on('data', () => {})
      socket.on('close', () => {
        clearTimeout(hang)
        resolve(Date.now() - started)
      })
      socket.on('connect', async () => {
        // Separate reads on the server: the frame header, then a part of its body.
        for (const chunk of [hello, ...partial]) {
          socket.write(chunk)
          await new Promise((resolve) => setTimeout(resolve, 50))
        }
      })
    })
    expect(await closed).toBeGreaterThanOrEqual(2 * IDLE_TIMEOUT_MS - 500)
  }, 30_000)

  it(
    `random and mutated frames for ${SECONDS}s over real TCP: no crash, no unhandled rejection, no hang, bounded heap, a good rhea client keeps working`,
    async () => {
      const valid = corpus()
      await runFuzz({
        port: t.port,
        seconds: SECONDS,
        seed: SEED,
        workers: WORKERS,
        perWorker: PER_WORKER,
        hangMs: HANG_MS + 2 * IDLE_TIMEOUT_MS,
        slowPeerChance: 0.2,
        minConnectionsPerSecond: 5,
        input: (random, id) => fuzzInput(random, valid, id),
        roundTrip: goodRoundTrip,
        connections: () => t.server.stats.connections,
        logger: t.logger,
        broker: t.broker,
      })
      expect(good.is_open()).toBe(true)
      expect(t.server.stats.linksIn + t.server.stats.linksOut, `seed ${SEED}`).toBe(2)
    },
    SECONDS * 1000 + 30_000,
  )
})
