import { MemoryStorage } from '@fluxmq/core'
import { ReasonCode } from '@fluxmq/mqtt-codec'
import type { MqttClient } from 'mqtt'
import type { Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { testScope } from './test-support/harness.js'

const scope = testScope()

/** What a client read from the wire, in order, until its connection closed. */
function wireLog(c: MqttClient): { readonly seen: string[]; readonly closed: Promise<void> } {
  const seen: string[] = []
  c.on('packetreceive', (packet: Packet) => {
    if (packet.cmd === 'publish') seen.push(`publish ${packet.topic} ${packet.payload.toString()}`)
    if (packet.cmd === 'disconnect') seen.push(`disconnect ${packet.reasonCode ?? 0}`)
  })
  const closed = new Promise<void>((resolve) => c.once('close', () => resolve()))
  return { seen, closed }
}

const will = (id: string, willDelayInterval: number) => ({
  topic: `will/${id}`,
  payload: Buffer.from(`${id} gone`),
  qos: 1 as const,
  retain: false,
  properties: { willDelayInterval },
})

describe('MqttServer.close()', () => {
  it('[MQTT-3.1.2-8] publishes the wills the shutdown makes due to subscribers still connected, then sends DISCONNECT 0x8B', async () => {
    const storage = new MemoryStorage()
    const t = await scope.start({}, { storage })
    // The watchers connect first: a shutdown that closed connections in order would close them before any will.
    const v5 = await scope.client({ protocolVersion: 5, clientId: 'watch5' })
    await v5.subscribeAsync('will/#', { qos: 1 })
    const v3 = await scope.client({ protocolVersion: 4, clientId: 'watch3' })
    await v3.subscribeAsync('will/#', { qos: 0 })
    const logs = [wireLog(v5), wireLog(v3)]

    await scope.client({ protocolVersion: 5, clientId: 'nodelay', will: will('nodelay', 0) })
    // Will Delay 30 but Session Expiry 0: the session ends with the connection, so the will is due now.
    await scope.client({ protocolVersion: 5, clientId: 'ending', will: will('ending', 30) })
    await scope.client({ protocolVersion: 4, clientId: 'old', will: { ...will('old', 0), properties: undefined } })
    // Outlives the shutdown: its will stays pending (stored) until its delay elapses, after a restart too.
    await scope.client({ protocolVersion: 5, clientId: 'delayed', clean: false, properties: { sessionExpiryInterval: 3600 }, will: will('delayed', 60) })

    await t.server.close()
    await Promise.all(logs.map((l) => l.closed))

    const wills = ['publish will/nodelay nodelay gone', 'publish will/ending ending gone', 'publish will/old old gone']
    expect(logs[0]?.seen).toEqual([...wills, `disconnect ${ReasonCode.ServerShuttingDown}`])
    // MQTT 3.1.1 has no server DISCONNECT: the wills, then the connection closes.
    expect(logs[1]?.seen).toEqual(wills)

    await t.broker.stop()
    const stored = (await storage.open()).sessions.map((s) => [s.session.clientId, s.session.will?.message.topic])
    expect(stored).toEqual([['delayed', 'will/delayed']])
  })

  it('[MQTT-5 4.11] tells MQTT 5 clients to use another server with the references it is given in turn, and only closes 3.1.1 ones', async () => {
    const t = await scope.start()
    const clients = await Promise.all(['a', 'b', 'c'].map((id) => scope.client({ protocolVersion: 5, clientId: id })))
    const old = await scope.client({ protocolVersion: 4, clientId: 'old' })
    const told: { reasonCode: number | undefined; serverReference: string | undefined }[] = []
    for (const c of clients) {
      c.on('packetreceive', (packet: Packet) => {
        if (packet.cmd === 'disconnect') told.push({ reasonCode: packet.reasonCode, serverReference: packet.properties?.serverReference })
      })
    }
    const oldLog = wireLog(old)
    const references = ['127.0.0.1:1884', '127.0.0.1:1885']
    let asked = 0
    await t.server.close(() => references[asked++ % references.length])
    await oldLog.closed
    // One reference per v5 client: the 3.1.1 client is not asked (it cannot be told).
    expect(asked).toBe(3)
    expect(told.map((d) => d.reasonCode)).toEqual([ReasonCode.UseAnotherServer, ReasonCode.UseAnotherServer, ReasonCode.UseAnotherServer])
    expect(told.map((d) => d.serverReference).sort()).toEqual(['127.0.0.1:1884', '127.0.0.1:1884', '127.0.0.1:1885'])
    expect(oldLog.seen).toEqual([])
  })

  it('sends 0x8B Server shutting down when there is no other server to name', async () => {
    const t = await scope.start()
    const c = await scope.client({ protocolVersion: 5, clientId: 'alone' })
    const log = wireLog(c)
    await t.server.close(() => undefined)
    await log.closed
    expect(log.seen).toEqual([`disconnect ${ReasonCode.ServerShuttingDown}`])
  })

  it('refuses a CONNECT that arrives after the shutdown began with ServerShuttingDown', async () => {
    const t = await scope.start()
    const raw = await scope.rawSocket(t.port, 5)
    t.broker.beginShutdown()
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'late', clean: true, keepalive: 0 })
    expect(await raw.next()).toMatchObject({ cmd: 'connack', reasonCode: ReasonCode.ServerShuttingDown })
  })
})
