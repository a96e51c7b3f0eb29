import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { StartedFluxmq } from '@fluxmq/testing'
import { Scene } from './support/fluxmq.js'

// Persistent sessions through the real process (memory storage): what a disconnected QoS 1
// subscriber missed is waiting for it when it comes back.
const scene = new Scene()
let fluxmq: StartedFluxmq

beforeAll(async () => {
  fluxmq = await scene.broker()
})
afterAll(() => scene.cleanup.run())

const cases = [
  { name: 'MQTT 5.0 (Clean Start 0, Session Expiry 300 s)', protocolVersion: 5, options: { clean: false, properties: { sessionExpiryInterval: 300 } } },
  { name: 'MQTT 3.1.1 (clean_session 0)', protocolVersion: 4, options: { clean: false } },
] as const

describe('persistent sessions', () => {
  for (const { name, protocolVersion, options } of cases) {
    it(`[MQTT-3.1.2-5] [MQTT-3.2.2-3] ${name}: QoS 1 messages published while away are delivered on reconnect, in order, with the subscription kept`, async () => {
      const clientId = `offline-v${protocolVersion}`
      const topic = `orders/${clientId}`
      const first = await scene.client(fluxmq.mqttUrl, { clientId, protocolVersion, ...options })
      expect(first.connack.sessionPresent).toBe(false)
      await first.client.subscribeAsync(topic, { qos: 1 })
      await first.client.endAsync(false)

      const { client: publisher } = await scene.client(fluxmq.mqttUrl, { clientId: `${clientId}-pub`, protocolVersion: 5 })
      for (let n = 1; n <= 20; n++) await publisher.publishAsync(topic, `order ${n}`, { qos: 1 })
      // QoS 0 is not queued for an offline session (the broker's documented choice, as MQTT 5 §4.5 allows).
      await publisher.publishAsync(topic, 'qos0 while away', { qos: 0 })

      const again = await scene.client(fluxmq.mqttUrl, { clientId, protocolVersion, ...options })
      expect(again.connack.sessionPresent).toBe(true)
      const received = again.inbox
      const messages = await received.waitForCount(20)
      expect(messages.map((message) => message.payload.toString())).toEqual(Array.from({ length: 20 }, (_, i) => `order ${i + 1}`))
      expect(messages.every((message) => message.packet.qos === 1)).toBe(true)

      // No SUBSCRIBE this time: the stored subscription routes a live message too.
      await publisher.publishAsync(topic, 'live', { qos: 1 })
      await received.waitFor((message) => message.payload.toString() === 'live')
      expect(received.texts).not.toContain('qos0 while away')
      expect(received.messages).toHaveLength(21)
    })
  }
})
