import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { runTool, withTimeout } from '@fluxmq/testing'
import type { StartedFluxmq } from '@fluxmq/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Scene } from './support/fluxmq.js'

// Issue 12: Debian's Qpid Proton (python3-qpid-proton, a C AMQP 1.0 stack unrelated to rhea)
// against the real fluxmq process, cross-checked with mqtt.js clients on the same process.
// Debian's own interpreter: the module is installed for it, not for whatever python3 is first on PATH.
const PYTHON = '/usr/bin/python3'
const CLIENT = fileURLToPath(new URL('../proton/amqp_client.py', import.meta.url))
const TIMEOUT_MS = 30_000

/** What the script prints for each message it receives. */
interface ProtonMessage {
  readonly body: string
  readonly binary: boolean
  readonly subject: string | null
  readonly content_type: string | null
  readonly correlation_id: string | null
  readonly reply_to: string | null
  readonly properties: Record<string, string>
}

const scene = new Scene()
let fluxmq: StartedFluxmq
let amqpUrl: string

beforeAll(async () => {
  fluxmq = await scene.broker(['--set', 'server.amqp.addr=127.0.0.1:0'])
  amqpUrl = `amqp://127.0.0.1:${fluxmq.process.port('amqp')}`
})
afterAll(() => scene.cleanup.run())

/** `amqp_client.py send`: COUNT unsettled messages to `address`; resolves once the script exited. */
async function protonSend(address: string, count: number): Promise<string[]> {
  const result = await runTool(PYTHON, [CLIENT, 'send', amqpUrl, address, String(count)], { timeoutMs: TIMEOUT_MS })
  expect(result.status, result.stderr).toBe(0)
  return result.stdout.trim().split('\n')
}

/** A running `amqp_client.py receive`, attached once `ready` resolves. */
class ProtonReceiver {
  readonly messages: ProtonMessage[] = []
  readonly ready: Promise<void>
  readonly exited: Promise<number | null>
  private stderr = ''

  constructor(address: string, count: number) {
    const child: ChildProcess = spawn(PYTHON, [CLIENT, 'receive', amqpUrl, address, String(count)], { stdio: ['ignore', 'pipe', 'pipe'] })
    scene.cleanup.defer(() => void child.kill('SIGKILL'))
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk))
    let attached: () => void = () => {}
    this.ready = withTimeout(new Promise<void>((resolve) => (attached = resolve)), TIMEOUT_MS, () => `proton receiver on ${address} attached (stderr: ${this.stderr})`)
    const lines = createInterface({ input: child.stdout! })
    lines.on('line', (line) => {
      if (line === 'ready') attached()
      else this.messages.push(JSON.parse(line) as ProtonMessage)
    })
    const closed = new Promise<void>((resolve) => lines.once('close', resolve))
    const exit = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)))
    this.exited = withTimeout(
      Promise.all([exit, closed]).then(([code]) => code),
      TIMEOUT_MS,
      () => `proton receiver on ${address} done (received ${this.messages.length}/${count}; stderr: ${this.stderr})`,
    )
  }
}

describe('Qpid Proton (python3-qpid-proton) against fluxmq', () => {
  it('a Proton sender to a topic reaches a Proton receiver on a wildcard filter: every unsettled message accepted, each delivered once, in order, with its properties', async () => {
    const receiver = new ProtonReceiver('proton/+/orders', 10)
    await receiver.ready
    const outcomes = await protonSend('proton/eu/orders', 10)
    expect(outcomes).toEqual(Array.from({ length: 10 }, () => '{"outcome": "accepted"}'))
    expect(await receiver.exited).toBe(0)
    expect(receiver.messages.map((m) => m.body)).toEqual(Array.from({ length: 10 }, (_, i) => `proton-${i}`))
    expect(receiver.messages[3]).toEqual({
      body: 'proton-3',
      binary: true,
      subject: 'greeting',
      content_type: 'text/plain',
      correlation_id: 'corr-3',
      reply_to: 'replies/proton',
      properties: { index: '3', origin: 'proton' },
    })
  })

  it('a Proton sender reaches MQTT 5.0 and 3.1.1 subscribers: the payload, and on 5.0 the properties as user properties, content type, correlation data and response topic', async () => {
    const v5 = await scene.client(fluxmq.mqttUrl, { clientId: 'proton-v5', protocolVersion: 5 })
    const v3 = await scene.client(fluxmq.mqttUrl, { clientId: 'proton-v3', protocolVersion: 4 })
    await v5.client.subscribeAsync('proton/mqtt/#', { qos: 1 })
    await v3.client.subscribeAsync('proton/mqtt/+', { qos: 1 })
    await protonSend('proton/mqtt/t', 3)
    const [v5Messages, v3Messages] = await Promise.all([v5.inbox.waitForCount(3), v3.inbox.waitForCount(3)])
    expect(v5Messages.map((m) => m.payload.toString())).toEqual(['proton-0', 'proton-1', 'proton-2'])
    expect(v3Messages.map((m) => [m.topic, m.payload.toString(), m.packet.qos])).toEqual([0, 1, 2].map((i) => ['proton/mqtt/t', `proton-${i}`, 1]))
    const properties = v5Messages[1]!.packet.properties
    expect(properties?.contentType).toBe('text/plain')
    expect(properties?.responseTopic).toBe('replies/proton')
    expect(Buffer.from(properties?.correlationData ?? []).toString()).toBe('corr-1')
    expect(properties?.userProperties).toMatchObject({ index: '1', origin: 'proton', 'amqp-subject': 'greeting' })
  })

  it('an MQTT 5.0 publish reaches a Proton receiver as a data section with application properties, content type, correlation id and reply-to', async () => {
    const receiver = new ProtonReceiver('proton/from-mqtt', 2)
    await receiver.ready
    const { client } = await scene.client(fluxmq.mqttUrl, { clientId: 'proton-publisher', protocolVersion: 5 })
    const properties = { contentType: 'application/octet-stream', responseTopic: 'back/here', correlationData: Buffer.from('req-7'), userProperties: { tenant: 'acme' } }
    await client.publishAsync('proton/from-mqtt', Buffer.from([0x00, 0x01, 0x41]), { qos: 1, properties })
    await client.publishAsync('proton/from-mqtt', 'second', { qos: 0 })
    expect(await receiver.exited).toBe(0)
    expect(receiver.messages[0]).toEqual({
      body: '\u0000\u0001A',
      binary: true,
      subject: null,
      content_type: 'application/octet-stream',
      correlation_id: 'req-7',
      reply_to: 'back/here',
      properties: { tenant: 'acme' },
    })
    expect(receiver.messages[1]).toMatchObject({ body: 'second', binary: true })
  })
})
