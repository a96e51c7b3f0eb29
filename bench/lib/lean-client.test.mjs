// The queue scenario's generator client against a real FluxMQ broker: what the bench counts
// (PUBACKed publishes, deliveries with their user properties, `$ack`s the broker took) must be
// what happened.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launch } from './brokers.mjs'
import { LeanClient, userPropertyBytes } from './lean-client.mjs'

const root = fileURLToPath(new URL('../..', import.meta.url))
let broker
let workDir
let port

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'fluxmq-lean-client-'))
  broker = await launch('fluxmq', { root, workDir, storage: 'sqlite' })
  port = broker.nodes[0].port
}, 60_000)

afterAll(async () => {
  await broker?.stop()
  rmSync(workDir, { recursive: true, force: true })
})

/** Resolves with what `done(ok)` of one publish heard. */
function published(client, topic, payload, properties) {
  return new Promise((resolve) => client.publish(topic, payload, resolve, properties))
}

function nextMessage(client) {
  return new Promise((resolve) => {
    client.onMessage = (topic, payload, userProperty) => resolve({ topic, payload: Buffer.from(payload), userProperty })
  })
}

describe('LeanClient against FluxMQ', { timeout: 30_000 }, () => {
  it('publishes at QoS 1 with user properties and hears the PUBACK; the subscriber reads topic, payload and properties', async () => {
    const subscriber = await LeanClient.connect(port, { clientId: 'lean-sub' })
    const publisher = await LeanClient.connect(port, { clientId: 'lean-pub' })
    expect(await subscriber.subscribe('lean/+')).toBe(1)
    const arriving = nextMessage(subscriber)
    const payload = Buffer.from('x'.repeat(300))
    expect(await published(publisher, 'lean/a', payload, userPropertyBytes([['k', 'v'], ['é', '€']]))).toBe(true)
    const message = await arriving
    expect(message.topic).toBe('lean/a')
    expect(message.payload.equals(payload)).toBe(true)
    expect([message.userProperty('k'), message.userProperty('é'), message.userProperty('missing')]).toEqual(['v', '€', undefined])
    await Promise.all([subscriber.end(), publisher.end()])
  })

  it('settles a queue delivery with $ack; a second $ack of it is refused, and a closed connection fails what is in flight', async () => {
    const consumer = await LeanClient.connect(port, { clientId: 'lean-consumer' })
    expect(await consumer.subscribe('$queue/lean', [['consumer-group', 'g'], ['ack-mode', 'manual']])).toBe(1)
    const arriving = nextMessage(consumer)
    expect(await published(consumer, '$queue/lean', Buffer.from('m'))).toBe(true)
    const delivery = await arriving
    const messageId = delivery.userProperty('message-id')
    expect(messageId).toBe('lean:0')
    const ack = userPropertyBytes([['message-id', messageId], ['group-id', 'g']])
    expect(await published(consumer, '$queue/lean/$ack', Buffer.alloc(0), ack)).toBe(true)
    expect(await published(consumer, '$queue/lean/$ack', Buffer.alloc(0), ack)).toBe(false)
    // Written, then the socket destroyed before any PUBACK can be read.
    const inFlight = published(consumer, '$queue/lean', Buffer.from('n'))
    consumer.socket.destroy()
    expect(await inFlight).toBe(false)
  })

  it('reads packets cut anywhere across socket chunks', async () => {
    const subscriber = await LeanClient.connect(port, { clientId: 'lean-chunks' })
    const seen = []
    subscriber.onMessage = (topic, payload, userProperty) => seen.push([topic, payload.toString(), userProperty('k')])
    // Two PUBLISHes as the broker would send them (QoS 0, a user property each), fed in every split.
    const publish = (topic, text) => {
      const props = userPropertyBytes([['k', text]])
      const body = Buffer.concat([Buffer.from([0, topic.length]), Buffer.from(topic), Buffer.from([props.length]), props, Buffer.from(text)])
      return Buffer.concat([Buffer.from([0x30, body.length]), body])
    }
    const bytes = Buffer.concat([publish('a/b', 'one'), publish('c', 'two')])
    for (let cut = 1; cut < bytes.length; cut++) {
      subscriber.read(bytes.subarray(0, cut))
      subscriber.read(bytes.subarray(cut))
    }
    expect(seen.length).toBe(2 * (bytes.length - 1))
    expect(new Set(seen.map((m) => JSON.stringify(m)))).toEqual(new Set([JSON.stringify(['a/b', 'one', 'one']), JSON.stringify(['c', 'two', 'two'])]))
    await subscriber.end()
  })
})
