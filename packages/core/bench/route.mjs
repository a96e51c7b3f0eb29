// Routing benchmark for the core alone (no sockets, no codec): how fast publish() matches and
// fans out. Run after a build: `pnpm --filter @fluxmq/core bench`.
import { Broker, MemoryStorage } from '../dist/index.js'

const logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => logger }
const clock = { now: () => Date.now() }

async function world() {
  const broker = new Broker({
    nodeId: 'bench', version: 'bench', clock, logger, storage: new MemoryStorage(),
    maxQos: 2, retryIntervalMs: 0, maxOfflineMessages: 1000, offlineOverflow: 'drop_oldest',
    defaultExpiry: 0, maxExpiry: 0, maxRetainedMessages: 0, maxSubscriptionsPerClient: 0, sysIntervalMs: 0,
  })
  await broker.start()
  return broker
}

/** A link that acknowledges QoS 1 at once, as a fast client would, and counts deliveries. */
function client(broker, id, counter) {
  let handle
  const link = {
    hasCredit: () => true,
    deliver(d) {
      counter.n++
      if (d.qos === 1) queueAck(() => broker.settle(handle, d.deliveryId, 'accepted'))
      return true
    },
    close() {},
  }
  return broker
    .connect({ clientId: id, protocol: 'mqtt5', cleanStart: true, sessionExpiryInterval: 0, receiveMaximum: 65535 }, link)
    .then((r) => {
      handle = r.session
      broker.activate(handle)
      return handle
    })
}

const acks = []
function queueAck(fn) {
  acks.push(fn)
}
function flushAcks() {
  for (const fn of acks.splice(0)) fn()
}

function sub(filter, qos) {
  return [{ filter, qos, noLocal: false, retainAsPublished: false, retainHandling: 2 }]
}

function message(topic, qos) {
  return { topic, payload: Buffer.from('hello world'), qos, retain: false, properties: {}, publishedAt: Date.now() }
}

async function fanOut(subscribers, qos, publishes) {
  const broker = await world()
  const counter = { n: 0 }
  for (let i = 0; i < subscribers; i++) {
    const h = await client(broker, `s${i}`, counter)
    broker.subscribe(h, sub('sensors/+/temp', qos))
  }
  const m = message('sensors/1/temp', qos)
  const ms = best(() => {
    for (let i = 0; i < publishes; i++) {
      broker.publish(null, m)
      flushAcks()
    }
  })
  report(`fan-out 1→${subscribers} QoS ${qos}`, publishes, publishes * subscribers, ms)
}

async function manyFilters(filters, publishes) {
  const broker = await world()
  const counter = { n: 0 }
  for (let i = 0; i < filters; i++) {
    const h = await client(broker, `s${i}`, counter)
    const f = i % 3 === 0 ? `site/${i % 100}/+/${i}` : i % 3 === 1 ? `site/${i % 100}/dev/${i}/#` : `site/${i % 100}/dev/${i}`
    broker.subscribe(h, sub(f, 0))
  }
  const topics = Array.from({ length: 1000 }, (_, i) => message(`site/${i % 100}/dev/${i}`, 0))
  const before = counter.n
  const ms = best(() => {
    for (let i = 0; i < publishes; i++) broker.publish(null, topics[i % topics.length])
  })
  report(`${filters} distinct filters, 1000 topics`, publishes, (counter.n - before) / RUNS, ms)
}

const RUNS = 3

/** Best of RUNS timed runs (ms): the first run doubles as JIT warm-up, the box may be shared. */
function best(run) {
  let min = Infinity
  for (let r = 0; r < RUNS; r++) {
    const t0 = process.hrtime.bigint()
    run()
    min = Math.min(min, Number(process.hrtime.bigint() - t0) / 1e6)
  }
  return min
}

function report(name, publishes, deliveries, ms) {
  const pps = Math.round((publishes / ms) * 1000)
  const dps = Math.round((deliveries / ms) * 1000)
  console.log(`${name.padEnd(36)} ${String(pps).padStart(10)} publishes/s ${String(dps).padStart(11)} deliveries/s`)
}

await fanOut(1, 0, 500_000)
await fanOut(1000, 0, 2_000)
await fanOut(1000, 1, 2_000)
await fanOut(10_000, 0, 200)
await manyFilters(100_000, 200_000)
