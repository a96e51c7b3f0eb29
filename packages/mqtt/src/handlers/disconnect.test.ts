import { ReasonCode } from '@fluxmq/mqtt-codec'
import type { MqttClient } from 'mqtt'
import { describe, expect, it } from 'vitest'
import { nextMessage, testScope } from '../test-support/harness.js'

const s = testScope()
const watcher = async (filter: string) => {
  const c = await s.client({ protocolVersion: 5 })
  await c.subscribeAsync(filter, { qos: 1 })
  return c
}
const will = { topic: 'will/t', payload: Buffer.from('gone'), qos: 1 as const, retain: false }

/** Proves no will arrived: a marker published afterwards arrives first. */
async function expectNoWill(c: MqttClient): Promise<void> {
  const next = nextMessage(c)
  const marker = await s.client({ protocolVersion: 5 })
  await marker.publishAsync('will/marker', 'm', { qos: 1 })
  expect((await next).topic).toBe('will/marker')
}

describe('DISCONNECT and wills', () => {
  it('[MQTT-3.14.4-3] DISCONNECT 0x00 discards the will', async () => {
    const t = await s.start()
    const w = await watcher('will/#')
    const r = await s.raw(t.port, 5, { will })
    r.send({ cmd: 'disconnect', reasonCode: 0 })
    await r.closedByServer()
    await expectNoWill(w)
  })

  it('[MQTT-3.14.4-3] a short DISCONNECT (Remaining Length 0, as mosquitto sends it) is a normal disconnection', async () => {
    const t = await s.start()
    const w = await watcher('will/#')
    const r = await s.raw(t.port, 5, { will })
    r.sendBytes([0xe0, 0x00])
    await r.closedByServer()
    await expectNoWill(w)
    const withReason = await s.raw(t.port, 5, { will })
    const got = nextMessage(w)
    // Remaining Length 1: reason code 0x04 without Property Length.
    withReason.sendBytes([0xe0, 0x01, 0x04])
    expect((await got).payload.toString()).toBe('gone')
    expect(t.logger.lines.filter((l) => l.level === 'warn')).toEqual([])
  })

  it('[MQTT-3.14.4-3] DISCONNECT 0x04 (Disconnect with Will Message) publishes the will', async () => {
    const t = await s.start()
    const w = await watcher('will/#')
    const got = nextMessage(w)
    const r = await s.raw(t.port, 5, { will })
    r.send({ cmd: 'disconnect', reasonCode: ReasonCode.DisconnectWithWill })
    expect((await got).payload.toString()).toBe('gone')
  })

  it('3.1.1 DISCONNECT discards the will, a dropped socket publishes it', async () => {
    const t = await s.start()
    const w = await watcher('will/#')
    const clean = await s.raw(t.port, 4, { will })
    clean.send({ cmd: 'disconnect' })
    await clean.closedByServer()
    await expectNoWill(w)
    const got = nextMessage(w)
    const dropped = await s.raw(t.port, 4, { will })
    dropped.close()
    expect((await got).payload.toString()).toBe('gone')
  })

  it('a DISCONNECT setting a session expiry on a session that had none (§3.14.2.2.2): DISCONNECT 0x82, will published', async () => {
    const t = await s.start()
    const w = await watcher('will/#')
    const got = nextMessage(w)
    const r = await s.raw(t.port, 5, { will })
    r.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 100 } })
    expect(await r.next()).toMatchObject({ cmd: 'disconnect', reasonCode: ReasonCode.ProtocolError })
    expect((await got).payload.toString()).toBe('gone')
  })

  it('will properties travel with the will; its Message Expiry Interval counts from publication [MQTT-3.3.2-6]', async () => {
    let now = Date.now()
    const clock = { now: () => now }
    const t = await s.start({ clock }, { clock })
    const w = await s.raw(t.port, 5)
    w.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'will/#', qos: 1 }] })
    await w.next()
    const r = await s.raw(t.port, 5, {
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
    const t = await s.start()
    const persistent = { clientId: 'shorten', clean: false, properties: { sessionExpiryInterval: 300 } }
    const r = await s.raw(t.port, 5, persistent)
    r.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 0 } })
    await r.closedByServer()
    const again = await s.connect(t.port, 5, persistent)
    expect(again.connack).toMatchObject({ sessionPresent: false })
  })
})
