import { connect as netConnect } from 'node:net'
import type { Socket } from 'node:net'
import { Broker, MemoryStorage } from '@fluxmq/core'
import type { BrokerOptions, Logger } from '@fluxmq/core'
import { encode } from '@fluxmq/mqtt-codec'
import type { Packet } from '@fluxmq/mqtt-codec'
import mqtt from 'mqtt'
import type { IClientOptions, MqttClient } from 'mqtt'
import { parser as mqttPacketParser } from 'mqtt-packet'
import { IN_PROCESS_BROKER_OPTIONS, RecordingLogger, serveOnLoopback } from '@fluxmq/testing'
import type { ServedBroker } from '@fluxmq/testing'
import { afterEach } from 'vitest'
import type { LinkTarget } from '../link.js'
import { MqttServer } from '../server.js'
import { OutboundTopicAliases } from '../topic-alias.js'
import type { MqttServerOptions } from '../options.js'

export { RecordingLogger } from '@fluxmq/testing'
export type { RecordedLine as LogLine } from '@fluxmq/testing'

export interface TestBroker extends ServedBroker<Broker, MqttServer> {
  readonly url: string
}

export const serverDefaults = (broker: Broker, logger: Logger): MqttServerOptions => ({
  broker,
  logger,
  clock: { now: () => Date.now() },
  allowAnonymous: true,
  maxPacketSize: 1 << 20,
  maxQos: 2,
  receiveMaximum: 256,
  topicAliasMaximum: 64,
  serverKeepAlive: 0,
  connectTimeoutMs: 10_000,
  maxWriteBuffer: 1 << 20,
  writeStallTimeoutMs: 30_000,
  maxBufferedBytes: 64 << 20,
  publishRate: 0,
})

export async function newBroker(logger: Logger, over: Partial<BrokerOptions> = {}): Promise<Broker> {
  const broker = new Broker({ ...IN_PROCESS_BROKER_OPTIONS, clock: { now: () => Date.now() }, logger, storage: new MemoryStorage(), ...over })
  await broker.start()
  return broker
}

/** A Broker on MemoryStorage behind an MqttServer listening on 127.0.0.1, port 0. */
export async function startBroker(over: Partial<MqttServerOptions> = {}, brokerOver: Partial<BrokerOptions> = {}): Promise<TestBroker> {
  const logger = new RecordingLogger()
  const broker = await newBroker(logger, brokerOver)
  const server = new MqttServer({ ...serverDefaults(broker, logger), ...over })
  const served = await serveOnLoopback(broker, server, logger)
  return { ...served, url: `mqtt://127.0.0.1:${served.port}` }
}

/** An mqtt.js client, connected; never reconnects by itself. */
export async function client(url: string, options: IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options })
}

export function closeClient(c: MqttClient): Promise<void> {
  return new Promise((resolve) => c.end(true, {}, () => resolve()))
}

/** Resolves with the next `message` event's (topic, payload, packet). */
export function nextMessage(c: MqttClient): Promise<{ topic: string; payload: Buffer; packet: mqtt.IPublishPacket }> {
  return new Promise((resolve) => c.once('message', (topic, payload, packet) => resolve({ topic, payload, packet })))
}

/**
 * A hand-driven MQTT client over a real socket: sends any bytes, reads the server's packets one by
 * one. For malformed input and spec corner cases no real client would produce.
 */
export class RawClient {
  readonly packets: Packet[] = []
  closed = false
  private readonly waiters: (() => void)[] = []
  private readonly parser

  private constructor(
    readonly socket: Socket,
    readonly version: 4 | 5,
  ) {
    this.parser = mqttPacketParser({ protocolVersion: version })
    this.parser.on('packet', (packet: Packet) => {
      this.packets.push(packet)
      this.wake()
    })
    this.parser.on('error', () => this.socket.destroy())
    socket.on('data', (chunk: Buffer) => this.parser.parse(chunk))
    socket.on('error', () => {})
    socket.on('close', () => {
      this.closed = true
      this.wake()
    })
  }

  static open(port: number, version: 4 | 5 = 5): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ host: '127.0.0.1', port }, () => resolve(new RawClient(socket, version)))
      socket.once('error', reject)
    })
  }

  /** Opens and completes a CONNECT; resolves with the CONNACK. */
  static async connected(port: number, version: 4 | 5, connect: Partial<Extract<Packet, { cmd: 'connect' }>> = {}): Promise<{ raw: RawClient; connack: Packet }> {
    const raw = await RawClient.open(port, version)
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId: `raw-${Math.random().toString(16).slice(2)}`, clean: true, keepalive: 0, ...connect })
    const connack = await raw.next()
    return { raw, connack }
  }

  send(packet: Packet): void {
    this.socket.write(encode(packet, this.version))
  }

  sendBytes(bytes: Buffer | number[]): void {
    this.socket.write(Buffer.from(bytes))
  }

  /** The next packet from the server; rejects if the connection closes first or after `timeoutMs`. */
  async next(timeoutMs = 5000): Promise<Packet> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const packet = this.packets.shift()
      if (packet !== undefined) return packet
      if (this.closed) throw new Error('connection closed')
      await this.nextEvent(deadline, 'timed out waiting for a packet')
    }
  }

  /** Resolves once the server has closed the connection (packets before it stay readable). */
  async closedByServer(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!this.closed) await this.nextEvent(deadline, 'server did not close the connection')
  }

  close(): void {
    this.socket.destroy()
  }

  /** Resolves at the next packet or close, or at `deadline`; rejects with `timeout` once it has passed. */
  private async nextEvent(deadline: number, timeout: string): Promise<void> {
    const left = deadline - Date.now()
    if (left <= 0) throw new Error(timeout)
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, left)
      this.waiters.push(() => {
        clearTimeout(timer)
        resolve()
      })
    })
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter()
  }
}

/** Waits (bounded) until `condition` holds: for server-side state that follows a client-side event. */
export async function until(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

type ConnectFields = Partial<Extract<Packet, { cmd: 'connect' }>>

/**
 * Everything one test opens: its broker, raw clients and mqtt.js clients. `testScope()` closes all
 * of it after each test, so a failing test leaves nothing open for the next.
 */
export class TestScope {
  private current: TestBroker | undefined
  private readonly raws: RawClient[] = []
  private readonly clients: MqttClient[] = []

  /** The running test's broker (started with `start`). */
  get t(): TestBroker {
    if (this.current === undefined) throw new Error('no broker started in this test')
    return this.current
  }

  async start(...args: Parameters<typeof startBroker>): Promise<TestBroker> {
    this.current = await startBroker(...args)
    return this.current
  }

  /** A raw socket to `port`, no CONNECT sent yet. */
  async rawSocket(port: number, version: 4 | 5 = 5): Promise<RawClient> {
    return this.keepRaw(await RawClient.open(port, version))
  }

  /** A raw client that completed its CONNECT, with the server's CONNACK. */
  async connect(port: number, version: 4 | 5, connect: ConnectFields = {}): Promise<{ raw: RawClient; connack: Packet }> {
    const opened = await RawClient.connected(port, version, connect)
    this.keepRaw(opened.raw)
    return opened
  }

  /** A raw client that completed its CONNECT (whatever the CONNACK said). */
  async raw(port: number, version: 4 | 5, connect: ConnectFields = {}): Promise<RawClient> {
    return (await this.connect(port, version, connect)).raw
  }

  /** A connected mqtt.js client, by default to the running test's broker. */
  async client(options: IClientOptions = {}, url = this.t.url): Promise<MqttClient> {
    const c = await client(url, options)
    this.clients.push(c)
    return c
  }

  async close(): Promise<void> {
    for (const r of this.raws.splice(0)) r.close()
    await Promise.all(this.clients.splice(0).map(closeClient))
    const current = this.current
    this.current = undefined
    await current?.close()
  }

  private keepRaw(raw: RawClient): RawClient {
    this.raws.push(raw)
    return raw
  }
}

/** A `TestScope` for the calling test file, closed after each of its tests. */
export function testScope(): TestScope {
  const scope = new TestScope()
  afterEach(() => scope.close())
  return scope
}

/** A connection stand-in that records what an MqttLink sends (a v5 client with room, unless overridden). */
export function recordingTarget(over: Partial<LinkTarget> = {}): LinkTarget & { sent: Buffer[] } {
  const sent: Buffer[] = []
  return {
    v5: true,
    open: true,
    outboundAliases: new OutboundTopicAliases(0),
    clientMaximumPacketSize: 268_435_460,
    hasCredit: () => true,
    now: () => 0,
    send: (packet) => sent.push(packet),
    closeByServer: () => {},
    sent,
    ...over,
  }
}
