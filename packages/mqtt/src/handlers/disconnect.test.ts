import { ReasonCode } from '@fluxmq/core'
import type { MqttClient } from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { RawClient, client, closeClient, nextMessage, startBroker } from '../test-support/harness.js'
import type { TestBroker } from '../test-support/harness.js'

let t: TestBroker | undefined
const raws: RawClient[] = []
const clients: MqttClient[] = []
afterEach(async () => {
  for (const r of raws.splice(0)) r.close()
  await Promise.all(clients.splice(0).map(closeClient))
  await t?.close()
  t = undefined
})
const raw = async (...args: Parameters<typeof RawClient.connected>) => {
  const r = await RawClient.connected(...args)
  raws.push(r.raw)
  return r.raw
}
const watcher = async (filter: string) => {
  const c = await client(t!.url, { protocolVersion: 5 })
  clients.push(c)
  await c.subscribeAsync(filter, { qos: 1 })
  return c
}
const will = { topic: 'will/t', payload: Buffer.from('gone'), qos: 1 as const, retain: false }

/** Proves no will arrived: a marker published afterwards arrives first. */
async function expectNoWill(c: MqttClient): Promise<void> {
  const next = nextMessage(c)
  const marker = await client(t!.url, { protocolVersion: 5 })
  clients.push(marker)
  await marker.publishAsync('will/marker', 'm', { qos: 1 })
  expect((await next).topic).toBe('will/marker')
}

describe('DISCONNECT and wills', () => {
  it('[MQTT-3.14.4-3] DISCONNECT 0x00 discards the will', async () => {
    t = await startBroker()
    const w = await watcher('will/#')
    const r = await raw(t.port, 5, { will })
    r.send({ cmd: 'disconnect', reasonCode: 0 })
    await r.closedByServer()
    await expectNoWill(w)
  })

  it('[MQTT-3.14.4-3] a short DISCONNECT (Remaining Length 0, as mosquitto sends it) is a normal disconnection', async () => {
    t = await startBroker()
    const w = await watcher('will/#')
    const r = await raw(t.port, 5, { will })
    r.sendBytes([0xe0, 0x00])
    await r.closedByServer()
    await expectNoWill(w)
    const withReason = await raw(t.port, 5, { will })
    const got = nextMessage(w)
    // Remaining Length 1: reason code 0x04 without Property Length.
    withReason.sendBytes([0xe0, 0x01, 0x04])
    expect((await got).payload.toString()).toBe('gone')
    expect(t.logger.lines.filter((l) => l.level === 'warn')).toEqual([])
  })

  it('[MQTT-3.14.4-3] DISCONNECT 0x04 (Disconnect with Will Message) publishes the will', async () => {
    t = await startBroker()
    const w = await watcher('will/#')
    const got = nextMessage(w)
    const r = await raw(t.port, 5, { will })
    r.send({ cmd: 'disconnect', reasonCode: ReasonCode.DisconnectWithWill })
    expect((await got).payload.toString()).toBe('gone')
  })

  it('3.1.1 DISCONNECT discards the will, a dropped socket publishes it', async () => {
    t = await startBroker()
    const w = await watcher('will/#')
    const clean = await raw(t.port, 4, { will })
    clean.send({ cmd: 'disconnect' })
    await clean.closedByServer()
    await expectNoWill(w)
    const got = nextMessage(w)
    const dropped = await raw(t.port, 4, { will })
    dropped.close()
    expect((await got).payload.toString()).toBe('gone')
  })

  it('a DISCONNECT setting a session expiry on a session that had none (§3.14.2.2.2): DISCONNECT 0x82, will published', async () => {
    t = await startBroker()
    const w = await watcher('will/#')
    const got = nextMessage(w)
    const r = await raw(t.port, 5, { will })
    r.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 100 } })
    expect(await r.next()).toMatchObject({ cmd: 'disconnect', reasonCode: ReasonCode.ProtocolError })
    expect((await got).payload.toString()).toBe('gone')
  })

  it('will properties travel with the will; its Message Expiry Interval counts from publication [MQTT-3.3.2-6]', async () => {
    let now = Date.now()
    const clock = { now: () => now }
    t = await startBroker({ clock }, { clock })
    const w = await raw(t.port, 5)
    w.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'will/#', qos: 1 }] })
    await w.next()
    const r = await raw(t.port, 5, {
      will: { ...will, properties: { messageExpiryInterval: 60, contentType: 'text/plain', userProperties: { why: 'test' } } },
    })
    // Connected for 30 s before the will goes out: a lifetime counted from CONNECT would read 30.
    now += 30_000
    r.close()
    expect(await w.next()).toMatchObject({
      cmd: 'publish',
      topic: 'will/t',
      properties: { messageExpiryInterval: 60, contentType: 'text/plain', userProperties: { why: 'test' } },
    })
  })

  it('DISCONNECT may shorten the session expiry: an expiry of 0 ends the session', async () => {
    t = await startBroker()
    const persistent = { clientId: 'shorten', clean: false, properties: { sessionExpiryInterval: 300 } }
    const r = await raw(t.port, 5, persistent)
    r.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 0 } })
    await r.closedByServer()
    const again = await RawClient.connected(t.port, 5, persistent)
    raws.push(again.raw)
    expect(again.connack).toMatchObject({ sessionPresent: false })
  })
})
