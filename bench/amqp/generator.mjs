#!/usr/bin/env node
// The AMQP load generator: `node generator.mjs '<load JSON>'`, one JSON report on stdout.
// AMQP senders (unsettled: at-least-once) each to its own address, and one receiver per sender,
// either an AMQP receiver (accepting each delivery) or an MQTT subscriber at QoS 1, all on the
// lean clients of this directory (lean-client.mjs, lean-mqtt.mjs) so that the generator outruns
// the brokers; it reports its own CPU share over the measured window. Every payload carries the sender's index, its sequence number and the send time on
// this process's clock, so the receiving side measures loss, duplicates, order and latency as the
// C generator does for MQTT (bench/README.md, "The load generator"): a message is owed once the
// broker accepted it; a sender keeps at most `e2eWindow` messages in transit (sent but not yet
// received, a gap counting as progress) besides what link credit allows.
import { performance } from 'node:perf_hooks'
import { clearInterval, setInterval } from 'node:timers'
import { connectAmqp } from './lean-client.mjs'
import { subscribeMqtt } from './lean-mqtt.mjs'

const load = JSON.parse(process.argv[2] ?? '{}')
const HEADER = 16
const host = '127.0.0.1'

/** Latency histogram: 1 µs buckets below 100 ms, 1 ms buckets up to 100 s, the rest in the last. */
class Histogram {
  fine = new Uint32Array(100_000)
  coarse = new Uint32Array(100_000)
  count = 0
  max = 0
  add(us) {
    const v = Math.max(0, Math.round(us))
    if (v < this.fine.length) this.fine[v] += 1
    else this.coarse[Math.min(this.coarse.length - 1, Math.floor(v / 1000))] += 1
    this.count += 1
    if (v > this.max) this.max = v
  }
  quantile(q) {
    if (this.count === 0) return null
    const rank = Math.ceil(q * this.count)
    let seen = 0
    for (let i = 0; i < this.fine.length; i += 1) {
      seen += this.fine[i]
      if (seen >= rank) return i
    }
    for (let i = 0; i < this.coarse.length; i += 1) {
      seen += this.coarse[i]
      if (seen >= rank) return i * 1000
    }
    return this.max
  }
  summary() {
    return { p50: this.quantile(0.5), p90: this.quantile(0.9), p99: this.quantile(0.99), p999: this.quantile(0.999), max: this.max, count: this.count }
  }
}

/** Sequence numbers one receiver got from its sender, a growable bitmap. */
class Seen {
  bits = new Uint8Array(1 << 16)
  highest = -1
  has(seq) {
    return seq < this.bits.length * 8 && (this.bits[seq >> 3] & (1 << (seq & 7))) !== 0
  }
  add(seq) {
    while (seq >= this.bits.length * 8) {
      const grown = new Uint8Array(this.bits.length * 2)
      grown.set(this.bits)
      this.bits = grown
    }
    this.bits[seq >> 3] |= 1 << (seq & 7)
    if (seq > this.highest) this.highest = seq
  }
}

const errors = []
const note = (text) => {
  if (errors.length < 8) errors.push(text)
}
const histogram = new Histogram()
// Send to the broker's accepted outcome, for messages sent in the measured window.
const ackHistogram = new Histogram()
const started = performance.now()
const measureFrom = started + load.warmup * 1000
const measureTo = measureFrom + load.duration * 1000
let phase = 'connecting'
let receivedInWindow = 0
let acceptedInWindow = 0
let duplicates = 0
let outOfOrder = 0
let lastArrival = 0
let subDisconnects = 0
let pubDisconnects = 0

const senders = Array.from({ length: load.pubs }, (_, index) => ({
  index,
  address: load.address.replace('{i}', String(index)),
  link: null,
  sent: 0,
  accepted: new Seen(),
  acceptedCount: 0,
  refused: 0,
  seen: new Seen(),
  received: 0,
  payload: Buffer.alloc(Math.max(HEADER, load.payload)),
  // Send times of the messages awaiting their outcome, by sequence number: the window and credit
  // keep far fewer than this in flight.
  sentAt: new Float64Array(1 << 16),
}))

function onPayload(bytes) {
  // A broker may wrap the body (RabbitMQ hands MQTT subscribers the encoded AMQP sections): the
  // payload is the fixed-size tail.
  const body = bytes.length > load.payload ? bytes.subarray(bytes.length - load.payload) : bytes
  if (body.length < HEADER) return note(`short payload of ${body.length} bytes`)
  const now = performance.now()
  const sender = senders[body.readUInt32LE(0)]
  const seq = body.readUInt32LE(4)
  const sentAt = body.readDoubleLE(8)
  if (!sender) return note('payload from an unknown sender')
  lastArrival = now
  if (sender.seen.has(seq)) {
    duplicates += 1
    return
  }
  if (seq < sender.seen.highest) outOfOrder += 1
  sender.seen.add(seq)
  sender.received += 1
  if (now >= measureFrom && now < measureTo) receivedInWindow += 1
  if (sentAt >= measureFrom && sentAt < measureTo) histogram.add((now - sentAt) * 1000)
  pump(sender)
}

function sending() {
  return phase === 'warmup' || phase === 'measuring'
}

/** Paced runs send `rate` messages per second per sender, counted from the start of warm-up. */
let sendingSince = 0
function owed(sender) {
  if (!load.rate) return Infinity
  return Math.floor(((performance.now() - sendingSince) / 1000) * load.rate) - sender.sent
}

function pump(sender) {
  const link = sender.link
  if (!sending() || !link) return
  let budget = owed(sender)
  // A gap counts as progress: a lost message must not hold its sender's window for ever. Against
  // the sink, where nothing is received, the window holds messages not yet accepted.
  const window = load.e2eWindow > 0 ? load.e2eWindow : Infinity
  const done = load.subs > 0 ? sender.seen.highest + 1 : sender.acceptedCount + sender.refused
  while (budget > 0 && link.sendable() && sender.sent - done < window && (!load.count || sender.sent < load.count)) {
    const seq = sender.sent
    sender.payload.writeUInt32LE(sender.index, 0)
    sender.payload.writeUInt32LE(seq, 4)
    const now = performance.now()
    sender.payload.writeDoubleLE(now, 8)
    link.send(sender.payload)
    sender.sentAt[seq % sender.sentAt.length] = now
    sender.sent += 1
    budget -= 1
  }
}

/** `opening` within 20 s, or an error naming `what`. */
function within(opening, what) {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not open within 20 s`)), 20_000)
  })
  return Promise.race([opening, timeout]).then(
    (value) => {
      clearTimeout(timer)
      return value
    },
    (error) => {
      clearTimeout(timer)
      throw new Error(`${what}: ${error.message}`)
    },
  )
}

function connectBroker(id, onDisconnect) {
  return connectAmqp({ host, port: load.ports.amqp, containerId: id, onClose: onDisconnect })
}

function onOutcome(sender, seq, outcome, error) {
  if (seq >= sender.sent || sender.accepted.has(seq)) return note(`sender ${sender.index}: outcome for delivery ${seq} twice or unsent`)
  if (outcome !== 'accepted') {
    sender.refused += 1
    note(`sender ${sender.index}: ${outcome}${error ? ` (${error})` : ''}`)
    return
  }
  sender.accepted.add(seq)
  sender.acceptedCount += 1
  const now = performance.now()
  if (now >= measureFrom && now < measureTo) acceptedInWindow += 1
  const sentAt = sender.sentAt[seq % sender.sentAt.length]
  if (sentAt >= measureFrom && sentAt < measureTo) ackHistogram.add((now - sentAt) * 1000)
  if (load.subs === 0) pump(sender)
}

async function openReceiver(sender) {
  const onDisconnect = () => {
    if (phase !== 'closing') subDisconnects += 1
  }
  if (load.receiver === 'mqtt') {
    return within(subscribeMqtt({
      host,
      port: load.ports.mqtt,
      clientId: `amqp-bench-sub-${sender.index}`,
      filter: load.filter.replace('{i}', String(sender.index)),
      onPayload,
      onClose: onDisconnect,
    }), `subscriber ${sender.index}`)
  }
  const connection = await within(connectBroker(`amqp-bench-receiver-${sender.index}`, onDisconnect), `receiver ${sender.index}`)
  await within(connection.attachReceiver(load.source.replace('{i}', String(sender.index)), load.credit ?? 500, onPayload), `receiver ${sender.index}`)
  return () => connection.close()
}

async function openSender(sender) {
  const connection = await within(
    connectBroker(`amqp-bench-sender-${sender.index}`, () => {
      if (phase !== 'closing') pubDisconnects += 1
    }),
    `sender ${sender.index}`,
  )
  const onLinkOutcome = (seq, outcome, error) => onOutcome(sender, seq, outcome, error)
  const link = await within(connection.attachSender(sender.address, onLinkOutcome), `sender ${sender.index}`)
  link.onSendable = () => pump(sender)
  sender.link = link
  return () => connection.close()
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function main() {
  const closers = []
  // Against the sink (subs 0) only the publishing side runs, limited by link credit alone.
  if (load.subs > 0) closers.push(...(await Promise.all(senders.map(openReceiver))))
  closers.push(...(await Promise.all(senders.map(openSender))))
  const connectS = (performance.now() - started) / 1000
  phase = 'warmup'
  sendingSince = performance.now()
  const pacer = load.rate ? setInterval(() => senders.forEach(pump), 1) : null
  senders.forEach(pump)
  await sleep(Math.max(0, measureFrom - performance.now()))
  phase = 'measuring'
  const cpuFrom = process.cpuUsage()
  await sleep(Math.max(0, measureTo - performance.now()))
  // The generator's own share of its CPU: near 100 % it, not the broker, sets the rate.
  const cpu = process.cpuUsage(cpuFrom)
  const generatorCpu = (cpu.user + cpu.system) / 1e6 / load.duration
  phase = 'draining'
  if (pacer) clearInterval(pacer)
  // Drain: until every accepted message arrived, nothing arrived for `quiet` s, or `drain` s passed.
  const drainStart = performance.now()
  let drainEnd = 'complete'
  for (;;) {
    const missing = load.subs > 0 ? senders.reduce((sum, s) => sum + s.acceptedCount - s.received, 0) : 0
    const now = performance.now()
    // Done when every message has its outcome and every accepted one arrived.
    if (missing <= 0 && senders.every((s) => s.acceptedCount + s.refused >= s.sent)) break
    if (now - Math.max(lastArrival, drainStart) > (load.quiet ?? 2) * 1000) {
      drainEnd = 'quiet'
      break
    }
    if (now - drainStart > load.drain * 1000) {
      drainEnd = 'deadline'
      break
    }
    await sleep(20)
  }
  let lost = 0
  for (const sender of load.subs > 0 ? senders : []) {
    for (let seq = 0; seq < sender.sent; seq += 1) if (sender.accepted.has(seq) && !sender.seen.has(seq)) lost += 1
  }
  phase = 'closing'
  await Promise.race([Promise.all(closers.map((close) => close())), sleep(2000)])
  const sent = senders.reduce((sum, s) => sum + s.sent, 0)
  const report = {
    pubs: load.pubs,
    subs: load.subs,
    connect_s: connectS,
    sent,
    accepted: senders.reduce((sum, s) => sum + s.acceptedCount, 0),
    refused: senders.reduce((sum, s) => sum + s.refused, 0),
    received: receivedInWindow,
    received_total: senders.reduce((sum, s) => sum + s.received, 0),
    pub_rate: acceptedInWindow / load.duration,
    recv_rate: receivedInWindow / load.duration,
    latency_us: histogram.summary(),
    ack_rtt_us: ackHistogram.summary(),
    lost,
    duplicates,
    out_of_order: outOfOrder,
    drain_end: drainEnd,
    sub_disconnects: subDisconnects,
    pub_disconnects: pubDisconnects,
    generator_cpu: generatorCpu,
    exhausted: load.count ? senders.filter((s) => s.sent >= load.count).length : 0,
    count: load.count ?? 0,
    slow_episodes_total: 0,
    errors,
  }
  console.log(JSON.stringify(report))
  process.exit(0)
}

main().catch((error) => {
  console.error(error.stack ?? String(error))
  process.exit(1)
})
