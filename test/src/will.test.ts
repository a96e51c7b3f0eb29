import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { dropConnection } from '@fluxmq/testing'
import type { MessageCollector, StartedFluxmq } from '@fluxmq/testing'
import type { IClientOptions } from 'mqtt'
import { Scene } from './support/fluxmq.js'

// Will messages through the real process: network loss, Will Delay Interval, normal DISCONNECT.
const scene = new Scene()
let fluxmq: StartedFluxmq
let watcher: MessageCollector

beforeAll(async () => {
  fluxmq = await scene.broker()
  const { client, inbox } = await scene.client(fluxmq.mqttUrl, { clientId: 'will-watcher', protocolVersion: 5 })
  watcher = inbox
  await client.subscribeAsync('will/#', { qos: 1 })
})
afterAll(() => scene.cleanup.run())

function withWill(clientId: string, protocolVersion: 4 | 5, extra: IClientOptions = {}): IClientOptions {
  return { clientId, protocolVersion, will: { topic: `will/${clientId}`, payload: Buffer.from(`${clientId} is gone`), qos: 1, retain: false }, ...extra }
}

const willsOf = (clientId: string) => watcher.messages.filter((message) => message.topic === `will/${clientId}`)

describe('will messages', () => {
  for (const protocolVersion of [4, 5] as const) {
    it(`[MQTT-3.1.2-8] MQTT ${protocolVersion === 4 ? '3.1.1' : '5.0'}: a client whose socket is destroyed has its will published once`, async () => {
      const clientId = `lost-v${protocolVersion}`
      const { client } = await scene.client(fluxmq.mqttUrl, withWill(clientId, protocolVersion))
      await dropConnection(client)
      const will = await watcher.waitFor((message) => message.topic === `will/${clientId}`)
      expect(will.payload.toString()).toBe(`${clientId} is gone`)
      expect(will.packet.qos).toBe(1)
    })
  }

  it('[MQTT-3.1.3-9] the will waits for its Will Delay Interval, and is not sent when the client reconnects within it', async () => {
    const delayed = withWill('delayed', 5, { properties: { sessionExpiryInterval: 60 } })
    const returning = withWill('returning', 5, { clean: false, properties: { sessionExpiryInterval: 60 } })
    if (delayed.will !== undefined) delayed.will.properties = { willDelayInterval: 2 }
    if (returning.will !== undefined) returning.will.properties = { willDelayInterval: 2 }
    const first = await scene.client(fluxmq.mqttUrl, delayed)
    const second = await scene.client(fluxmq.mqttUrl, returning)

    const droppedAt = Date.now()
    await Promise.all([dropConnection(first.client), dropConnection(second.client)])
    const back = await scene.client(fluxmq.mqttUrl, { ...returning, will: undefined })
    expect(back.connack.sessionPresent).toBe(true)

    const will = await watcher.waitFor((message) => message.topic === 'will/delayed', 10_000)
    const waited = Date.now() - droppedAt
    expect(will.payload.toString()).toBe('delayed is gone')
    // The core runs its timers on a 1 s tick: the will comes between 2 s and 2 s + one tick, plus
    // slack for a loaded machine; far later would mean the delay is not what schedules it.
    expect(waited).toBeGreaterThanOrEqual(1_900)
    expect(waited).toBeLessThan(6_000)
    // Both wills were due at the same moment (within one tick); one more tick and the returning
    // client's is still not sent. Nothing to await for an absence: this wait is the test.
    await new Promise((resolve) => setTimeout(resolve, 1_200))
    expect(willsOf('returning')).toEqual([])
    expect(willsOf('delayed')).toHaveLength(1)
  })

  it('[MQTT-3.14.4-3] DISCONNECT 0x00 discards the will; DISCONNECT 0x04 publishes it; 3.1.1 DISCONNECT discards it', async () => {
    const normal = await scene.client(fluxmq.mqttUrl, withWill('polite', 5))
    const polite311 = await scene.client(fluxmq.mqttUrl, withWill('polite311', 4))
    const withWillReason = await scene.client(fluxmq.mqttUrl, withWill('farewell', 5))
    await normal.client.endAsync(false, { reasonCode: 0 })
    await polite311.client.endAsync(false)
    await withWillReason.client.endAsync(false, { reasonCode: 0x04 })
    // The broker handles the three connections' DISCONNECTs in order; once the last one's will is
    // out, a will for either earlier one would have been published before it.
    await watcher.waitFor((message) => message.topic === 'will/farewell')
    expect(willsOf('polite')).toEqual([])
    expect(willsOf('polite311')).toEqual([])
    expect(willsOf('farewell')).toHaveLength(1)
  })
})
