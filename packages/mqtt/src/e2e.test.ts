import { beforeEach, describe, expect, it } from 'vitest'
import { nextMessage, testScope } from './test-support/harness.js'

const s = testScope()
beforeEach(async () => {
  await s.start()
})

describe('mqtt.js end to end', () => {
  for (const protocolVersion of [4, 5] as const) {
    for (const qos of [0, 1, 2] as const) {
      it(`v${protocolVersion} QoS ${qos}: subscribe and publish round trip`, async () => {
        const sub = await s.client({ protocolVersion, clientId: `sub-${protocolVersion}-${qos}` })
        const pub = await s.client({ protocolVersion, clientId: `pub-${protocolVersion}-${qos}` })
        const granted = await sub.subscribeAsync('e2e/+/x', { qos })
        expect(granted[0]?.qos).toBe(qos)
        const received = nextMessage(sub)
        await pub.publishAsync('e2e/a/x', 'hello', { qos })
        const { topic, payload, packet } = await received
        expect(topic).toBe('e2e/a/x')
        expect(payload.toString()).toBe('hello')
        expect(packet.qos).toBe(qos)
      })
    }
  }

  it('[MQTT-3.3.2-11] [MQTT-3.3.2-12] topic aliases both ways with mqtt.js (autoUseTopicAlias out, topicAliasMaximum in)', async () => {
    const sub = await s.client({ protocolVersion: 5, properties: { topicAliasMaximum: 5 } })
    await sub.subscribeAsync('alias/#', { qos: 1 })
    const pub = await s.client({ protocolVersion: 5, autoUseTopicAlias: true })
    const topics: string[] = []
    const aliases: (number | undefined)[] = []
    const all = new Promise<void>((resolve) =>
      sub.on('message', (topic, _payload, packet) => {
        topics.push(topic)
        aliases.push(packet.properties?.topicAlias)
        if (topics.length === 4) resolve()
      }),
    )
    for (const topic of ['alias/a', 'alias/a', 'alias/b', 'alias/a']) await pub.publishAsync(topic, 'x', { qos: 1 })
    await all
    expect(topics).toEqual(['alias/a', 'alias/a', 'alias/b', 'alias/a'])
    expect(aliases).toEqual([1, 1, 2, 1])
  })

  for (const protocolVersion of [4, 5] as const) {
    it(`v${protocolVersion}: a graceful end() discards the will [MQTT-3.14.4-3], a lost connection publishes it`, async () => {
      const watcher = await s.client({ protocolVersion: 5 })
      await watcher.subscribeAsync('e2e/will/+', { qos: 1 })
      const wills: string[] = []
      watcher.on('message', (topic) => wills.push(topic))
      const graceful = await s.client({ protocolVersion, will: { topic: 'e2e/will/graceful', payload: Buffer.from('x'), qos: 1, retain: false } })
      await new Promise<void>((resolve) => graceful.end(false, {}, () => resolve()))
      const lost = await s.client({ protocolVersion, will: { topic: 'e2e/will/lost', payload: Buffer.from('x'), qos: 1, retain: false } })
      const arrived = nextMessage(watcher)
      lost.stream.destroy()
      expect((await arrived).topic).toBe('e2e/will/lost')
      expect(wills).toEqual(['e2e/will/lost'])
      expect(s.t.logger.lines.filter((l) => l.level === 'warn')).toEqual([])
    })
  }

  it('a v3 and a v5 client on the same topic both receive', async () => {
    const v4 = await s.client({ protocolVersion: 4 })
    const v5 = await s.client({ protocolVersion: 5 })
    await v4.subscribeAsync('mixed/t', { qos: 1 })
    await v5.subscribeAsync('mixed/t', { qos: 1 })
    const both = Promise.all([nextMessage(v4), nextMessage(v5)])
    const pub = await s.client({ protocolVersion: 5 })
    await pub.publishAsync('mixed/t', 'x', { qos: 1, properties: { userProperties: { k: 'v' } } })
    const [a, b] = await both
    expect(a.payload.toString()).toBe('x')
    expect(b.packet.properties?.userProperties).toEqual({ k: 'v' })
  })
})
