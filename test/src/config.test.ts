import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { setArgs } from '@fluxmq/testing'
import type { StartedFluxmq } from '@fluxmq/testing'
import { Scene } from './support/fluxmq.js'

// SPEC §2 keys given on the command line reach the behaviour clients see.
const scene = new Scene()
let fluxmq: StartedFluxmq

beforeAll(async () => {
  fluxmq = await scene.broker(
    setArgs({
      'broker.max_packet_size': '1KiB',
      'broker.receive_maximum': 10,
      'broker.topic_alias_maximum': 3,
      'broker.server_keep_alive': 5,
      'session.max_offline_messages': 5,
      'session.offline_overflow': 'drop_oldest',
    }),
  )
})
afterAll(() => scene.cleanup.run())

describe('configuration through the real process', () => {
  it('CONNACK carries broker.receive_maximum, broker.topic_alias_maximum, broker.server_keep_alive and broker.max_packet_size', async () => {
    const { connack } = await scene.client(fluxmq.mqttUrl, { clientId: 'conf-connack', protocolVersion: 5, keepalive: 60 })
    expect(connack.properties).toMatchObject({ receiveMaximum: 10, topicAliasMaximum: 3, serverKeepAlive: 5, maximumPacketSize: 1024 })
  })

  it('[MQTT-3.2.2-15] a PUBLISH larger than broker.max_packet_size ends that connection with DISCONNECT 0x95; others continue', async () => {
    const big = await scene.client(fluxmq.mqttUrl, { clientId: 'conf-big', protocolVersion: 5 })
    const other = await scene.client(fluxmq.mqttUrl, { clientId: 'conf-other', protocolVersion: 5 })
    await other.client.subscribeAsync('size/#', { qos: 1 })
    const told = new Promise<number | undefined>((resolve) => big.client.once('disconnect', (packet) => resolve(packet.reasonCode)))
    // mqtt.js checks the broker's Maximum Packet Size itself; a raw write goes past that check.
    const topic = Buffer.from('size/big')
    const payload = Buffer.alloc(2048, 0x61)
    const remaining = 2 + topic.length + 1 + payload.length
    big.client.stream.write(Buffer.concat([Buffer.from([0x30, (remaining & 0x7f) | 0x80, remaining >> 7, 0x00, topic.length]), topic, Buffer.from([0x00]), payload]))
    expect(await told).toBe(0x95)
    await other.client.publishAsync('size/small', 'fits', { qos: 1 })
    const [small] = await other.inbox.waitForCount(1)
    expect(small?.payload.toString()).toBe('fits')
  })

  it('session.max_offline_messages 5 with drop_oldest: the 5 newest of 8 messages wait for the session', async () => {
    const options = { clientId: 'conf-offline', protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 300 } }
    const first = await scene.client(fluxmq.mqttUrl, options)
    await first.client.subscribeAsync('queue/conf', { qos: 1 })
    await first.client.endAsync(false)
    const { client: publisher } = await scene.client(fluxmq.mqttUrl, { clientId: 'conf-pub', protocolVersion: 5 })
    for (let n = 1; n <= 8; n++) await publisher.publishAsync('queue/conf', `m${n}`, { qos: 1 })
    const again = await scene.client(fluxmq.mqttUrl, options)
    await publisher.publishAsync('queue/conf', 'live', { qos: 1 })
    await again.inbox.waitFor((message) => message.payload.toString() === 'live')
    expect(again.inbox.texts).toEqual(['m4', 'm5', 'm6', 'm7', 'm8', 'live'])
  })

  it('[MQTT-3.1.4-3] a second connection with the same client id takes the session over: the first gets DISCONNECT 0x8E', async () => {
    const first = await scene.client(fluxmq.mqttUrl, { clientId: 'conf-twin', protocolVersion: 5 })
    const told = new Promise<number | undefined>((resolve) => first.client.once('disconnect', (packet) => resolve(packet.reasonCode)))
    // Within broker.server_keep_alive (5): a 3.1.1 client asking for more is refused, as by Mosquitto.
    const second = await scene.client(fluxmq.mqttUrl, { clientId: 'conf-twin', protocolVersion: 4, keepalive: 5 })
    expect(await told).toBe(0x8e)
    await second.client.subscribeAsync('twin/x', { qos: 1 })
    await second.client.publishAsync('twin/x', 'still here', { qos: 1 })
    expect((await second.inbox.waitForCount(1))[0]?.payload.toString()).toBe('still here')
  })
})
