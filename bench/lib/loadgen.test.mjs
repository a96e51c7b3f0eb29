// The generator's accounting is what makes the table honest: it must count exactly the losses
// and duplicates a broker causes, and report none when there are none.
import { fileURLToPath } from 'node:url'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { launch } from './brokers.mjs'
import { buildLoadgen, holdIdle, runLoad } from './loadgen.mjs'
import { startFaultyBroker } from './test-support/faulty-broker.mjs'

const benchDir = fileURLToPath(new URL('..', import.meta.url))
const root = fileURLToPath(new URL('../..', import.meta.url))
const FAN_IN = { pubs: 4, subs: 1, pubTopic: 'bench/in/{i}', subFilter: 'bench/in/+', qos: 0, payload: 64, warmup: 0.2, duration: 1.5, drain: 3, quiet: 0.5 }
// At most 5,000 messages per publisher: the faulty broker relays them all within the drain bound
// even on a loaded machine, so the exact accounting never meets "undelivered at the bound".
const BOUNDED = { ...FAN_IN, count: 5000 }

let binary
const cleanups = []
beforeAll(() => {
  binary = buildLoadgen(benchDir)
})
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()()
})

async function faulty(options) {
  const broker = await startFaultyBroker(options)
  cleanups.push(() => broker.close())
  return broker
}

// Each test runs the real generator for 1–2 s against a real socket; a loaded machine stretches that.
describe('loadgen run', { timeout: 30_000 }, () => {
  it('counts nothing lost, duplicated or reordered through a broker that forwards everything', async () => {
    const broker = await faulty()
    const result = await runLoad(binary, FAN_IN, { pub: broker.port, sub: broker.port }, 'clean')
    expect(result.sent).toBeGreaterThan(0)
    expect(result.sent).toBe(broker.stats.published)
    expect(result.expected).toBe(result.sent)
    expect(result.received).toBe(result.sent)
    expect({ lost: result.lost, duplicates: result.duplicates, out_of_order: result.out_of_order }).toEqual({ lost: 0, duplicates: 0, out_of_order: 0 })
    expect(result.latency_us.count).toBeGreaterThan(0)
  })

  it('counts exactly the messages a broker drops', async () => {
    const broker = await faulty({ drop: (n) => n % 7 === 3 })
    const result = await runLoad(binary, BOUNDED, { pub: broker.port, sub: broker.port }, 'lossy')
    expect(broker.stats.dropped).toBeGreaterThan(0)
    expect(result.lost).toBe(broker.stats.dropped)
    expect(result.received).toBe(result.sent - broker.stats.dropped)
  })

  it('counts exactly the messages a broker delivers twice, and none as lost', async () => {
    const broker = await faulty({ duplicate: (n) => n % 5 === 1 })
    const result = await runLoad(binary, BOUNDED, { pub: broker.port, sub: broker.port }, 'dups')
    expect(broker.stats.duplicated).toBeGreaterThan(0)
    expect(result.duplicates).toBe(broker.stats.duplicated)
    expect(result.lost).toBe(0)
  })

  it('keeps at most the end-to-end window in transit per publisher when the subscriber gets nothing', async () => {
    const broker = await faulty({ drop: () => true })
    const load = { ...FAN_IN, pubs: 2, e2eWindow: 50, warmup: 0, duration: 0.2 }
    const result = await runLoad(binary, load, { pub: broker.port, sub: broker.port }, 'window')
    // Nothing arrives and no 500 ms stall passes within 0.2 s: each publisher stops at 50.
    expect(result.sent).toBe(100)
    expect(result.lost).toBe(100)
  })

  it('publishes QoS 1 against the sink with every message acknowledged', async () => {
    const sink = await launch('sink', { root, workDir: benchDir + '.build' })
    cleanups.push(() => sink.stop())
    const load = { ...FAN_IN, subs: 0, qos: 1, window: 16 }
    const result = await runLoad(binary, load, { pub: sink.nodes[0].port, sub: sink.nodes[0].port }, 'sinkq1')
    expect(result.acked).toBe(result.sent)
    expect(result.pub_rate).toBeGreaterThan(0)
    expect(result.ack_rtt_us.count).toBe(result.sent)
  })
})

describe('loadgen run, open loop (no end-to-end window)', { timeout: 30_000 }, () => {
  // 500 messages per publisher fit in the loopback socket buffers: sending them all never depends
  // on how fast the faulty broker reads.
  const FLOOD = { ...FAN_IN, count: 500, warmup: 0.1 }

  it('sends every message of its count however little arrives', async () => {
    const broker = await faulty({ drop: () => true })
    const result = await runLoad(binary, FLOOD, { pub: broker.port, sub: broker.port }, 'open')
    expect(result.sent).toBe(4 * 500)
    expect(broker.stats.published).toBe(result.sent)
    expect({ unwritten: result.unwritten, received: result.received, lost: result.lost }).toEqual({ unwritten: 0, received: 0, lost: 2000 })
  })

  it('counts exactly the PUBACKed messages that never arrive at QoS 1', async () => {
    const broker = await faulty({ drop: (n) => n % 7 === 3 })
    const result = await runLoad(binary, { ...FLOOD, qos: 1, window: 16 }, { pub: broker.port, sub: broker.port }, 'openq1')
    expect(broker.stats.dropped).toBeGreaterThan(0)
    expect(result.acked).toBe(broker.stats.acked)
    expect(result.acked).toBe(result.sent)
    expect(result.lost).toBe(broker.stats.dropped)
  })

  it('keeps at most the QoS 1 window unacknowledged, and owes nothing unacknowledged', async () => {
    const broker = await faulty({ ack: () => false })
    const load = { ...FLOOD, qos: 1, window: 16, drain: 0.5 }
    const result = await runLoad(binary, load, { pub: broker.port, sub: broker.port }, 'unacked')
    expect({ sent: result.sent, acked: result.acked, received: result.received }).toEqual({ sent: 4 * 16, acked: 0, received: 4 * 16 })
    expect({ expected: result.expected, lost: result.lost }).toEqual({ expected: 0, lost: 0 })
  })

  it('owes nothing for messages a broker that stopped reading never let out of the publisher', async () => {
    const broker = await faulty({ pauseAfter: 1000 })
    // More than the loopback socket buffers hold, so some stay in the publisher's own buffer.
    const load = { ...FLOOD, pubs: 1, count: 300_000, drain: 0.5 }
    const result = await runLoad(binary, load, { pub: broker.port, sub: broker.port }, 'paused')
    expect(result.unwritten).toBeGreaterThan(0)
    expect(result.received).toBe(broker.stats.forwarded)
    expect(result.expected).toBe(result.sent - result.unwritten)
    expect(result.lost).toBe(result.expected - result.received)
  })

  it('counts a subscriber the broker disconnects, and what it was owed afterwards as lost', async () => {
    const broker = await faulty({ closeSubscribersAfter: 500 })
    const result = await runLoad(binary, FLOOD, { pub: broker.port, sub: broker.port }, 'cutoff')
    expect({ sub: result.sub_disconnects, pub: result.pub_disconnects }).toEqual({ sub: 1, pub: 0 })
    expect(result.received).toBe(500)
    expect(result.lost).toBe(result.sent - 500)
    expect(result.errors[0]).toMatch(/^subscriber 0 \(cutoff-s0\) closed by broker/)
  })
})

describe('loadgen idle', { timeout: 30_000 }, () => {
  it('holds the connections open until told to close them', async () => {
    const sink = await launch('sink', { root, workDir: benchDir + '.build' })
    cleanups.push(() => sink.stop())
    const { ready, done, measured } = await holdIdle(binary, sink.nodes[0].port, 300, 'idle', async () => 'measured while open')
    expect(ready).toMatchObject({ event: 'ready', connected: 300, failed: 0 })
    expect(measured).toBe('measured while open')
    expect(done).toMatchObject({ event: 'done', dropped: 0 })
  })
})
