import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeSelfSignedCertificate, openClient, setArgs } from '@fluxmq/testing'
import type { CertificateFiles, StartedFluxmq } from '@fluxmq/testing'
import { Scene } from './support/fluxmq.js'

// TCP, TLS (certificate made with openssl for this run) and WebSocket listeners of one process
// route to each other.
const scene = new Scene()
let fluxmq: StartedFluxmq
let certificate: CertificateFiles
let tlsUrl: string

beforeAll(async () => {
  certificate = await makeSelfSignedCertificate(scene.tempDir())
  fluxmq = await scene.broker(
    setArgs({
      'server.mqtt.tls.addr': '127.0.0.1:0',
      'server.mqtt.tls.cert_file': certificate.certFile,
      'server.mqtt.tls.key_file': certificate.keyFile,
    }),
  )
  tlsUrl = `mqtts://127.0.0.1:${fluxmq.process.port('mqtt-tls')}`
})
afterAll(() => scene.cleanup.run())

describe('listeners', () => {
  it('TLS, WebSocket (/mqtt) and TCP clients exchange messages through one broker', async () => {
    const overTls = await scene.client(tlsUrl, { clientId: 'via-tls', protocolVersion: 5, ca: readFileSync(certificate.certFile) })
    const overWs = await scene.client(fluxmq.wsUrl, { clientId: 'via-ws', protocolVersion: 4 })
    const overTcp = await scene.client(fluxmq.mqttUrl, { clientId: 'via-tcp', protocolVersion: 5 })
    for (const side of [overTls, overWs, overTcp]) await side.client.subscribeAsync('mesh/#', { qos: 1 })

    await overTls.client.publishAsync('mesh/tls', 'sealed', { qos: 1 })
    await overWs.client.publishAsync('mesh/ws', 'framed', { qos: 1 })
    await overTcp.client.publishAsync('mesh/tcp', 'plain', { qos: 2 })
    for (const side of [overTls, overWs, overTcp]) {
      const got = await side.inbox.waitForCount(3)
      expect(got.map((message) => `${message.topic}=${message.payload.toString()}`).sort()).toEqual(['mesh/tcp=plain', 'mesh/tls=sealed', 'mesh/ws=framed'])
    }
    // Not a plain socket by accident: the TLS client's stream is a TLS socket.
    expect((overTls.client.stream as unknown as { encrypted?: boolean }).encrypted).toBe(true)
  })

  it('the TLS port refuses a client that does not trust the certificate and one that speaks plain MQTT', async () => {
    await expect(openClient(tlsUrl, { protocolVersion: 5 })).rejects.toThrow(/self[- ]signed certificate/)
    await expect(openClient(`mqtt://127.0.0.1:${fluxmq.process.port('mqtt-tls')}`, { protocolVersion: 5, connectTimeout: 3_000 })).rejects.toThrow()
    const ready = await fetch(`${fluxmq.httpUrl}/ready`)
    expect(ready.status).toBe(200)
    expect(((await ready.json()) as { checks: Record<string, unknown> }).checks['mqtt-tls']).toEqual({ ok: true })
  })

  it('a WebSocket connection on another path than server.mqtt.websocket.path is refused', async () => {
    const wrongPath = fluxmq.wsUrl.replace(/\/mqtt$/, '/other')
    await expect(openClient(wrongPath, { protocolVersion: 5, connectTimeout: 3_000 })).rejects.toThrow()
  })
})
