import { describe, expect, it } from 'vitest'
import { testScope } from '../test-support/harness.js'

const s = testScope()
const persistent = { clientId: 'settles', clean: false, properties: { sessionExpiryInterval: 60 } }
const publish = (topic: string, qos: 1 | 2, messageId: number) =>
  ({ cmd: 'publish', topic, payload: Buffer.from(topic), qos, retain: false, dup: false, messageId }) as const

/** A persistent v5 subscriber to `set/#` at QoS 2 and a publisher; the subscriber's packets so far read. */
async function subscribed() {
  const { port } = await s.start()
  const sub = await s.raw(port, 5, persistent)
  sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'set/#', qos: 2 }] })
  expect(await sub.next()).toMatchObject({ cmd: 'suback', granted: [2] })
  const pub = await s.raw(port, 5, { clientId: 'publisher' })
  return { port, sub, pub }
}

describe('outgoing settlement over MQTT (packet id = short delivery id)', () => {
  it('[MQTT-4.4.0-1] a resumed session gets an unacknowledged QoS 1 again with DUP and its packet id, a PUBREC-ed QoS 2 as PUBREL with its packet id', async () => {
    const { port, sub, pub } = await subscribed()
    pub.send(publish('set/one', 1, 1))
    pub.send(publish('set/two', 2, 2))
    const one = await sub.next()
    const two = await sub.next()
    expect(one).toMatchObject({ cmd: 'publish', topic: 'set/one', qos: 1, dup: false })
    expect(two).toMatchObject({ cmd: 'publish', topic: 'set/two', qos: 2, dup: false })
    const [idOne, idTwo] = [(one as { messageId: number }).messageId, (two as { messageId: number }).messageId]
    expect(idOne).toBeGreaterThan(0)
    expect(idTwo).not.toBe(idOne)
    sub.send({ cmd: 'pubrec', messageId: idTwo })
    expect(await sub.next()).toMatchObject({ cmd: 'pubrel', messageId: idTwo })
    sub.close()
    const { raw: back, connack } = await s.connect(port, 5, persistent)
    expect(connack).toMatchObject({ sessionPresent: true })
    expect(await back.next()).toMatchObject({ cmd: 'publish', topic: 'set/one', messageId: idOne, dup: true })
    expect(await back.next()).toMatchObject({ cmd: 'pubrel', messageId: idTwo })
    back.send({ cmd: 'puback', messageId: idOne })
    back.send({ cmd: 'pubcomp', messageId: idTwo })
    // Settled: the next delivery is a new one, and the window has room for it.
    pub.send(publish('set/three', 1, 3))
    expect(await back.next()).toMatchObject({ cmd: 'publish', topic: 'set/three', dup: false })
  })

  it('[MQTT-4.3.3-4] a PUBREC >= 0x80 ends the exchange: no PUBREL, and nothing of it is resent on a resumed session', async () => {
    const { port, sub, pub } = await subscribed()
    pub.send(publish('set/refused', 2, 1))
    const refused = (await sub.next()) as { messageId: number }
    sub.send({ cmd: 'pubrec', messageId: refused.messageId, reasonCode: 0x80 })
    pub.send(publish('set/after', 1, 2))
    expect(await sub.next()).toMatchObject({ cmd: 'publish', topic: 'set/after' })
    sub.close()
    const { raw: back } = await s.connect(port, 5, persistent)
    // Only the unacknowledged QoS 1 comes back.
    expect(await back.next()).toMatchObject({ cmd: 'publish', topic: 'set/after', dup: true })
    pub.send(publish('set/last', 1, 3))
    expect(await back.next()).toMatchObject({ cmd: 'publish', topic: 'set/last', dup: false })
  })
})
