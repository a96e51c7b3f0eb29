// Fan-out micro-benchmark: one publish routed by the core to N subscribers, each reached through
// an MqttLink (encode once per form, stamp packet ids, queue bytes). Sockets are left out: this
// measures what the adapter adds per subscriber on the hot path. Build first:
//   pnpm exec turbo run build --filter=@fluxmq/mqtt...  &&  node packages/mqtt/bench/fanout.mjs
import { Broker, MemoryStorage } from '@fluxmq/core'
import { encodePublish } from '@fluxmq/mqtt-codec'
import { MqttLink } from '../dist/link.js'
import { OutboundTopicAliases } from '../dist/topic-alias.js'

const SUBSCRIBERS = Number(process.env.SUBSCRIBERS ?? 1000)
const PUBLISHES = Number(process.env.PUBLISHES ?? 2000)
const silent = { debug() {}, info() {}, warn() {}, error() {}, child() { return silent } }

async function run(qos, v5, encodeEach) {
  const broker = new Broker({
    nodeId: 'bench', version: 'bench', clock: { now: () => Date.now() }, logger: silent, storage: new MemoryStorage(),
    maxQos: 2, retryIntervalMs: 60_000, maxOfflineMessages: 1000, offlineOverflow: 'drop_oldest', defaultExpiry: 0,
    maxExpiry: 0, maxRetainedMessages: 0, maxSubscriptionsPerClient: 0, sysIntervalMs: 0,
  })
  await broker.start()
  let bytes = 0
  const sessions = []
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const acks = []
    const target = {
      v5, open: true, outboundAliases: new OutboundTopicAliases(0), clientMaximumPacketSize: 268_435_460,
      now: () => Date.now(), send: (b) => { bytes += b.length }, closeByServer() {},
    }
    const mqttLink = new MqttLink(target)
    const link = encodeEach
      ? { hasCredit: () => true, deliver: (d) => { const m = d.message; target.send(encodePublish({ topic: m.topic, payload: m.payload, qos: d.qos, retain: d.retain, dup: d.dup, ...(d.qos > 0 ? { packetId: d.deliveryId & 0xffff } : {}) }, v5 ? 5 : 4)); if (d.qos > 0) acks.push(d.deliveryId); return true }, close() {} }
      : { hasCredit: () => true, deliver: (d) => { const ok = mqttLink.deliver(d); if (d.qos > 0) acks.push(d.deliveryId); return ok }, close() {} }
    const result = await broker.connect({ clientId: `s${i}`, protocol: v5 ? 'mqtt5' : 'mqtt3', cleanStart: true, sessionExpiryInterval: 0, receiveMaximum: 65535 }, link)
    broker.activate(result.session)
    broker.subscribe(result.session, [{ filter: 'bench/+', qos, noLocal: false, retainAsPublished: false, retainHandling: 0 }])
    sessions.push({ session: result.session, acks })
  }
  const payload = Buffer.alloc(64, 1)
  const started = process.hrtime.bigint()
  for (let p = 0; p < PUBLISHES; p++) {
    broker.publish(null, { topic: 'bench/t', payload, qos, retain: false, properties: {}, publishedAt: Date.now() })
    if (qos > 0) for (const s of sessions) { for (const id of s.acks) broker.settle(s.session, id, 'accepted'); s.acks.length = 0 }
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  await broker.stop()
  return { deliveriesPerSecond: Math.round((SUBSCRIBERS * PUBLISHES) / seconds), mbPerSecond: Math.round(bytes / seconds / 1e6) }
}

for (const qos of [0, 1]) {
  for (const v5 of [false, true]) {
    const shared = await run(qos, v5, false)
    const each = await run(qos, v5, true)
    console.log(`QoS ${qos} ${v5 ? 'v5 ' : 'v3 '} ${SUBSCRIBERS} subscribers: encode-once ${shared.deliveriesPerSecond.toLocaleString()} deliveries/s (${shared.mbPerSecond} MB/s)` +
      ` | encode per subscriber ${each.deliveriesPerSecond.toLocaleString()} deliveries/s`)
  }
}
