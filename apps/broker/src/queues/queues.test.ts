import { afterEach, describe, expect, it } from 'vitest'
import { Broker, MemoryStorage } from '@fluxmq/core'
import { IN_PROCESS_BROKER_OPTIONS } from '@fluxmq/testing'
import type { ClientLink, Delivery, Logger, SessionHandle } from '@fluxmq/core'
import { loadConfig } from '../config/load.js'
import { createQueues } from './queues.js'
import type { Queues } from './queues.js'

// The core and the real queue engine (SQLite in a temporary directory) wired as the broker wires
// them, with a link that records what a client would receive: credit and settlement semantics.
const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent }
const turn = () => new Promise((resolve) => setImmediate(resolve))

class Link implements ClientLink {
  readonly received: Delivery[] = []
  /** False: the socket is full, deliveries wait. */
  room = true
  hasCredit(): boolean {
    return this.room
  }
  deliver(d: Delivery): boolean {
    this.received.push({ ...d })
    return true
  }
  close(): void {}
}

const prop = (d: Delivery, name: string) => d.message.properties.userProperties?.find(([key]) => key === name)?.[1]

let queues: Queues
let broker: Broker
afterEach(async () => {
  await broker.stop()
  queues.close()
})

async function start(): Promise<void> {
  const { config } = loadConfig({ sets: ['queues=[{name: jobs}]'] })
  const clock = { now: () => Date.now() }
  queues = createQueues(config, clock, silent)
  broker = new Broker({
    ...IN_PROCESS_BROKER_OPTIONS,
    clock,
    logger: silent,
    storage: new MemoryStorage(),
    retryIntervalMs: 0,
    maxOfflineMessages: 100,
    defaultExpiry: 0,
    receiveMaximum: 16,
    queues: queues.port,
  })
  await broker.start()
  queues.open()
}

async function connect(clientId: string, receiveMaximum: number): Promise<{ session: SessionHandle; link: Link }> {
  const link = new Link()
  const result = await broker.connect({ clientId, protocol: 'mqtt5', cleanStart: true, sessionExpiryInterval: 0, receiveMaximum }, link)
  if (!result.ok) throw new Error(`connect refused: ${result.reason}`)
  broker.activate(result.session)
  return { session: result.session, link }
}

function consume(session: SessionHandle, userProperties: [string, string][] = []): void {
  const requests = [{ filter: '$queue/jobs', qos: 1 as const, noLocal: false, retainAsPublished: false, retainHandling: 0 as const, userProperties }]
  const result = broker.subscribe(session, requests)
  expect(result.codes).toEqual([1])
  broker.deliverRetained(session, requests, result)
}

async function publish(n: number): Promise<void> {
  const durable: Promise<void>[] = []
  for (let i = 0; i < n; i++) {
    const r = broker.publish(null, { topic: '$queue/jobs', payload: Buffer.from(String(i)), qos: 1, retain: false, properties: {}, publishedAt: Date.now() })
    expect(r.reason).toBe('accepted')
    durable.push(r.durable as Promise<void>)
  }
  await Promise.all(durable)
  await turn()
}

describe('queues wired into the core', () => {
  it('auto mode: never more unacknowledged deliveries than the Receive Maximum; each PUBACK settles one and lets the next out', async () => {
    await start()
    const { session, link } = await connect('c1', 3)
    consume(session)
    await publish(10)
    expect(link.received.map((d) => d.message.payload.toString())).toEqual(['0', '1', '2'])
    expect(broker.settle(session, link.received[0]!.deliveryId, 'accepted')).toBe(true)
    expect(link.received).toHaveLength(4)
    await turn()
    expect(queues.engine.stats('jobs')?.counters.acks).toBe(1)
    expect(queues.engine.stats('jobs')?.pending).toBe(3)
  })

  it('auto mode: the outcome a delivery is settled with reaches the queue (rejected: dead-lettered)', async () => {
    await start()
    const { session, link } = await connect('c4', 2)
    consume(session)
    await publish(2)
    expect(broker.settle(session, link.received[0]!.deliveryId, 'rejected')).toBe(true)
    expect(broker.settle(session, link.received[1]!.deliveryId, 'accepted')).toBe(true)
    await turn()
    expect(queues.engine.stats('jobs')?.counters).toMatchObject({ acks: 1, deadLettered: 1 })
  })

  it('manual mode: a PUBACK only confirms receipt; the $ack settles and gives the credit back', async () => {
    await start()
    const { session, link } = await connect('c2', 2)
    consume(session, [['ack-mode', 'manual'], ['consumer-group', 'm']])
    await publish(4)
    expect(link.received).toHaveLength(2)
    for (const d of link.received) broker.settle(session, d.deliveryId, 'accepted')
    expect(link.received).toHaveLength(2)
    const first = link.received[0]!
    expect(prop(first, 'group-id')).toBe('m')
    const ack = broker.publish(session, {
      topic: '$queue/jobs/$ack',
      payload: Buffer.alloc(0),
      qos: 1,
      retain: false,
      properties: { userProperties: [['message-id', prop(first, 'message-id')!], ['group-id', 'm']] },
      publishedAt: Date.now(),
    })
    expect(ack.reason).toBe('accepted')
    await ack.durable
    expect(link.received).toHaveLength(3)
    expect(queues.engine.stats('jobs')?.counters.acks).toBe(1)
  })

  it('only `$queue/<name>/$ack|$nack|$reject` settles: a deeper topic appends, another `$` key or a foreign id is refused', async () => {
    await start()
    const { session, link } = await connect('c7', 4)
    consume(session, [['ack-mode', 'manual']])
    await publish(1)
    const messageId = prop(link.received[0]!, 'message-id')!
    const settle = (topic: string, id = messageId) =>
      broker.publish(session, {
        topic,
        payload: Buffer.alloc(0),
        qos: 1,
        retain: false,
        properties: { userProperties: [['message-id', id]] },
        publishedAt: Date.now(),
      }).reason
    expect(settle('$queue/jobs/$acknowledge')).toBe('topic_invalid')
    expect(settle('$queue/$ack')).toBe('topic_invalid')
    expect(settle('$queue/job/$ack')).toBe('payload_invalid')
    expect(settle('$queue/jobs/$ack', messageId.replace('jobs:', 'jobsx:'))).toBe('payload_invalid')
    // The routing key `eu/$ack`: an append like any other.
    expect(settle('$queue/jobs/eu/$ack')).toBe('accepted')
    expect(queues.engine.stats('jobs')?.counters).toMatchObject({ appended: 2, acks: 0 })
    expect(settle('$queue/jobs/$ack')).toBe('accepted')
    expect(queues.engine.stats('jobs')?.counters.acks).toBe(1)
  })

  it('deliveries wait for the window that ordinary QoS 1 traffic filled, and are never written to the session store', async () => {
    await start()
    const { session, link } = await connect('c3', 2)
    broker.subscribe(session, [{ filter: 'plain/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }])
    consume(session)
    broker.publish(null, { topic: 'plain/a', payload: Buffer.from('p0'), qos: 1, retain: false, properties: {}, publishedAt: Date.now() })
    broker.publish(null, { topic: 'plain/a', payload: Buffer.from('p1'), qos: 1, retain: false, properties: {}, publishedAt: Date.now() })
    await publish(2)
    expect(link.received.map((d) => d.message.payload.toString())).toEqual(['p0', 'p1'])
    broker.settle(session, link.received[0]!.deliveryId, 'accepted')
    broker.settle(session, link.received[1]!.deliveryId, 'accepted')
    expect(link.received.map((d) => d.message.payload.toString())).toEqual(['p0', 'p1', '0', '1'])
  })

  it('what waited for a full link is released to the other members when its consumer leaves', async () => {
    await start()
    const a = await connect('c5', 10)
    const b = await connect('c6', 10)
    a.link.room = false
    b.link.room = false
    consume(a.session)
    consume(b.session)
    await publish(4)
    expect(a.link.received).toHaveLength(0)
    b.link.room = true
    broker.disconnect(a.session, { publishWill: false })
    broker.creditAvailable(b.session)
    await turn()
    expect(b.link.received.map((d) => d.message.payload.toString()).sort()).toEqual(['0', '1', '2', '3'])
  })

  it('a disconnect detaches the consumer: its unsettled deliveries stay pending for the visibility timeout', async () => {
    await start()
    const { session, link } = await connect('c4', 5)
    consume(session)
    await publish(2)
    expect(link.received).toHaveLength(2)
    broker.disconnect(session, { publishWill: false })
    const stats = queues.engine.stats('jobs')!
    expect(stats.pending).toBe(2)
    expect(stats.groups[0]?.consumers).toEqual([])
  })
})
