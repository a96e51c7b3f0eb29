import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnFluxmq } from '@fluxmq/testing'
import type { LogLine, OpenedClient, StartedFluxmq } from '@fluxmq/testing'
import { FLUXMQ_BIN, Scene } from './support/fluxmq.js'
import { RawConnection, connectV5 } from './support/raw-socket.js'

// Bad input from operators (config) and from the network (bytes): the one offender is stopped,
// a line says why, nothing else is disturbed.
const scene = new Scene()
let fluxmq: StartedFluxmq
let bystander: OpenedClient

beforeAll(async () => {
  fluxmq = await scene.broker()
  bystander = await scene.client(fluxmq.mqttUrl, { clientId: 'bystander', protocolVersion: 5 })
  await bystander.client.subscribeAsync('calm/#', { qos: 1 })
})
afterAll(() => scene.cleanup.run())

/**
 * The warning the adapter logs when it closes a connection for bad input, found by its stable
 * error code (the message text is for humans and may be reworded), written after line `from`.
 */
function closedForBadInput(code: string, test: (line: LogLine) => boolean, from = 0): Promise<LogLine> {
  return fluxmq.process.waitForLog((line) => line.level === 40 && line.code === code && typeof line.reason === 'string' && fluxmq.process.lines.indexOf(line) >= from && test(line))
}

/** The bystander still has its connection and its subscription: a message goes round trip. */
async function bystanderUndisturbed(text: string): Promise<void> {
  expect(bystander.client.connected).toBe(true)
  await bystander.client.publishAsync('calm/check', text, { qos: 1 })
  await bystander.inbox.waitFor((message) => message.payload.toString() === text)
}

describe('bad configuration', () => {
  it('a config file with a bad value stops start-up with exit code 2 and one line naming the key', async () => {
    const file = join(scene.tempDir(), 'fluxmq.yaml')
    writeFileSync(file, 'session:\n  max_offline_messages: 100\n  offline_overflow: drop_newest\n')
    const child = spawnFluxmq({ bin: FLUXMQ_BIN, args: ['--config', file] })
    expect(await child.exited).toBe(2)
    expect(child.stderr).toBe(`fluxmq: invalid value for session.offline_overflow: "drop_newest" (from ${file}); expected one of drop_oldest, reject_new\n`)
    expect(child.lines).toEqual([])
  })

  it('an unknown key stops start-up with exit code 2 naming the key path', async () => {
    const file = join(scene.tempDir(), 'fluxmq.yaml')
    writeFileSync(file, 'broker:\n  max_qos: 1\n  retain_everything: true\n')
    const child = spawnFluxmq({ bin: FLUXMQ_BIN, args: ['--config', file] })
    expect(await child.exited).toBe(2)
    expect(child.stderr).toContain('broker.retain_everything')
    expect(child.stderr.trim().split('\n')).toHaveLength(1)
  })
})

describe('malformed bytes on a raw socket', () => {
  it('[MQTT-4.13.1-1] a reserved packet type after CONNECT: DISCONNECT 0x81 with a reason string, connection closed, a log line says why, others unaffected', async () => {
    const raw = await RawConnection.open(fluxmq.process.port('mqtt-tcp'))
    raw.write(connectV5('raw-bad'))
    const connack = await raw.waitForBytes(2)
    expect(connack[0]).toBe(0x20)
    const connackLength = (connack[1] as number) + 2
    raw.write([0x00, 0x00])
    await raw.closed
    const disconnect = raw.received.subarray(connackLength)
    expect(disconnect[0]).toBe(0xe0)
    // Remaining length, then the reason code: 0x81 Malformed Packet.
    expect(disconnect[2]).toBe(0x81)
    expect(disconnect.toString('latin1')).toContain('packet type 0 is reserved')
    const line = await closedForBadInput('FLUXMQ_ERR_MQTT_MALFORMED_PACKET', (entry) => entry.clientId === 'raw-bad')
    expect(line).toMatchObject({ reasonCode: 0x81, reason: 'packet type 0 is reserved' })
    await bystanderUndisturbed('after reserved type')
  })

  it('bytes that are not MQTT at all (an HTTP request) are dropped without a CONNACK and logged, others unaffected', async () => {
    const raw = await RawConnection.open(fluxmq.process.port('mqtt-tcp'))
    const logged = fluxmq.process.log.lines.length
    raw.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))
    await raw.closed
    expect(raw.received.length).toBe(0)
    const line = await closedForBadInput('FLUXMQ_ERR_MQTT_MALFORMED_PACKET', (entry) => entry.clientId === undefined, logged)
    expect(line.reason).toMatch(/\S/)
    await bystanderUndisturbed('after http bytes')
  })

  it('[MQTT-3.1.0-2] a second CONNECT is a protocol error: DISCONNECT 0x82, connection closed, others unaffected', async () => {
    const raw = await RawConnection.open(fluxmq.process.port('mqtt-tcp'))
    raw.write(connectV5('raw-twice'))
    const connack = await raw.waitForBytes(2)
    const connackLength = (connack[1] as number) + 2
    raw.write(connectV5('raw-twice'))
    await raw.closed
    const disconnect = raw.received.subarray(connackLength)
    expect([disconnect[0], disconnect[2]]).toEqual([0xe0, 0x82])
    const line = await closedForBadInput('FLUXMQ_ERR_MQTT_PROTOCOL_VIOLATION', (entry) => entry.clientId === 'raw-twice')
    expect(line).toMatchObject({ reasonCode: 0x82 })
    expect(line.reason).toContain('[MQTT-3.1.0-2]')
    await bystanderUndisturbed('after second connect')
  })
})
