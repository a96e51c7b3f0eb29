import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import type { Logger } from '@fluxmq/core'
import { LOOPBACK_ARGS } from '@fluxmq/testing'
import { connectAsync } from 'mqtt'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { startBroker } from './app.js'
import type { RunningBroker } from './app.js'
import { loadConfig } from './config/load.js'

/** The `--set` values of the harness's loopback arguments, for loadConfig. */
const LOOPBACK_SETS = LOOPBACK_ARGS.filter((argument) => argument !== '--set')

// Real sockets on a shared 2-core machine: generous budgets.
vi.setConfig({ testTimeout: 30_000 })

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent }
const running: RunningBroker[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((broker) => broker.close()))
})

function config(...sets: string[]) {
  return loadConfig({ sets: [...LOOPBACK_SETS, ...sets] }).config
}

describe('startBroker', () => {
  it('binds every enabled listener, reports ready, and not ready once closing', async () => {
    const broker = await startBroker(config(), silent)
    running.push(broker)
    expect(Object.keys(broker.addresses).sort()).toEqual(['http', 'mqtt-tcp', 'mqtt-websocket'])
    expect(broker.readiness()).toEqual({
      ready: true,
      checks: { 'mqtt-tcp': { ok: true }, 'mqtt-websocket': { ok: true }, http: { ok: true }, storage: { ok: true } },
    })
    const closing = broker.close()
    expect(broker.readiness().ready).toBe(false)
    expect(broker.readiness().checks['mqtt-tcp']).toEqual({ ok: false, reason: 'shutting down' })
    await closing
    expect(broker.readiness().checks.storage).toEqual({ ok: false, reason: 'shutting down' })
  })

  it('leaves a listener out when its address is ""', async () => {
    const broker = await startBroker(config('server.mqtt.websocket.addr=', 'server.http.addr='), silent)
    running.push(broker)
    expect(Object.keys(broker.addresses)).toEqual(['mqtt-tcp'])
  })

  it('closes what it started when a later listener cannot bind', async () => {
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    const taken = (blocker.address() as AddressInfo).port
    const free = createServer()
    await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve))
    const tcpPort = (free.address() as AddressInfo).port
    await new Promise((resolve) => free.close(resolve))
    try {
      await expect(startBroker(config(`server.mqtt.tcp.addr=127.0.0.1:${tcpPort}`, `server.http.addr=127.0.0.1:${taken}`), silent)).rejects.toThrow()
      // The TCP listener bound before the failure is closed again: its port is free.
      const probe = createServer()
      await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(tcpPort, '127.0.0.1', resolve))
      await new Promise((resolve) => probe.close(resolve))
    } finally {
      await new Promise((resolve) => blocker.close(resolve))
    }
  })

  it('publishes a will when a client vanishes, across MQTT 3.1.1 and 5.0 [MQTT-3.1.2-8]', async () => {
    const broker = await startBroker(config(), silent)
    running.push(broker)
    const url = `mqtt://127.0.0.1:${broker.addresses['mqtt-tcp']?.port}`
    const watcher = await connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0 })
    await watcher.subscribeAsync('status/#', { qos: 1 })
    const doomed = await connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, will: { topic: 'status/doomed', payload: Buffer.from('gone'), qos: 1, retain: false } })
    const will = new Promise<string>((resolve) => watcher.once('message', (topic, payload) => resolve(`${topic} ${payload.toString()}`)))
    doomed.stream.destroy()
    expect(await will).toBe('status/doomed gone')
    await watcher.endAsync()
    await doomed.endAsync(true)
  })
})
