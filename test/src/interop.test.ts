import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { StartedFluxmq } from '@fluxmq/testing'
import type { MessageCollector } from '@fluxmq/testing'
import type { MqttClient } from 'mqtt'
import { Scene } from './support/fluxmq.js'

// MQTT 3.1.1 and 5.0 clients of mqtt.js on one port of the real process.
const scene = new Scene()
let fluxmq: StartedFluxmq

beforeAll(async () => {
  fluxmq = await scene.broker()
})
afterAll(() => scene.cleanup.run())

async function connected(clientId: string, protocolVersion: 4 | 5): Promise<{ client: MqttClient; received: MessageCollector }> {
  const { client, inbox } = await scene.client(fluxmq.mqttUrl, { clientId, protocolVersion })
  return { client, received: inbox }
}

describe('MQTT 3.1.1 and 5.0 clients on one topic', () => {
  it('exchange messages both ways at QoS 0, 1 and 2, each delivered once at the QoS it was sent with', async () => {
    const v3 = await connected('interop-v3', 4)
    const v5 = await connected('interop-v5', 5)
    await v3.client.subscribeAsync('room/1', { qos: 2 })
    await v5.client.subscribeAsync('room/1', { qos: 2 })

    for (const qos of [0, 1, 2] as const) {
      await v3.client.publishAsync('room/1', `from v3 at ${qos}`, { qos })
      await v5.client.publishAsync('room/1', `from v5 at ${qos}`, { qos })
    }
    // Both subscribed to the topic they publish on: each sees all six messages (its own included).
    for (const side of [v3, v5]) {
      const messages = await side.received.waitForCount(6)
      const seen = messages.map((message) => [message.payload.toString(), message.packet.qos]).sort()
      expect(seen).toEqual([
        ['from v3 at 0', 0],
        ['from v3 at 1', 1],
        ['from v3 at 2', 2],
        ['from v5 at 0', 0],
        ['from v5 at 1', 1],
        ['from v5 at 2', 2],
      ])
    }
    // A late duplicate would land after the six; there is none once the broker has answered a round trip.
    await v5.client.publishAsync('room/1', 'fence', { qos: 2 })
    await v3.received.waitFor((message) => message.payload.toString() === 'fence')
    expect(v3.received.messages).toHaveLength(7)
  })

  it('[MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-17] [MQTT-3.3.2-18] response topic, correlation data and user properties pass v5 to v5 unaltered and are dropped toward v3', async () => {
    const publisher = await connected('props-pub', 5)
    const v5 = await connected('props-v5', 5)
    const v3 = await connected('props-v3', 4)
    await v5.client.subscribeAsync('rpc/request', { qos: 1 })
    await v3.client.subscribeAsync('rpc/request', { qos: 1 })

    const properties = {
      responseTopic: 'rpc/reply/props-pub',
      correlationData: Buffer.from([0, 1, 2, 0xff]),
      userProperties: { trace: 'abc', b: ['2', '3'] },
      contentType: 'application/json',
      payloadFormatIndicator: true,
    }
    await publisher.client.publishAsync('rpc/request', '{"n":1}', { qos: 1, properties })

    const [toV5] = await v5.received.waitForCount(1)
    expect(toV5?.payload.toString()).toBe('{"n":1}')
    expect(toV5?.packet.properties).toMatchObject({
      responseTopic: 'rpc/reply/props-pub',
      correlationData: Buffer.from([0, 1, 2, 0xff]),
      userProperties: { trace: 'abc', b: ['2', '3'] },
      contentType: 'application/json',
      payloadFormatIndicator: true,
    })

    const [toV3] = await v3.received.waitForCount(1)
    // A 3.1.1 PUBLISH has no property field: had the broker encoded v5 properties, they would
    // appear here as extra bytes in front of the payload.
    expect(toV3?.payload.toString()).toBe('{"n":1}')
    expect(toV3?.packet.properties).toBeUndefined()
    expect(toV3?.packet.qos).toBe(1)

    // The other way: a 3.1.1 message reaches a v5 subscriber with no properties invented.
    await v3.client.publishAsync('rpc/request', 'plain', { qos: 1 })
    const plain = await v5.received.waitFor((message) => message.payload.toString() === 'plain')
    expect(plain.packet.properties?.userProperties).toBeUndefined()
    expect(plain.packet.properties?.responseTopic).toBeUndefined()
    expect(plain.packet.properties?.correlationData).toBeUndefined()
  })
})
