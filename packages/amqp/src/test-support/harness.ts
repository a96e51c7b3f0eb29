import { Broker, MemoryStorage } from '@fluxmq/core'
import type { BrokerOptions } from '@fluxmq/core'
import rhea from 'rhea'
import type { Connection, ConnectionOptions, EventContext, Message, Receiver, ReceiverOptions, Sender, SenderOptions } from 'rhea'
import { IN_PROCESS_BROKER_OPTIONS, RecordingLogger, serveOnLoopback } from '@fluxmq/testing'
import type { ServedBroker } from '@fluxmq/testing'
import { afterEach } from 'vitest'
import { AmqpServer } from '../server.js'
import type { AmqpServerOptions } from '../options.js'

export { RecordingLogger } from '@fluxmq/testing'
export type { RecordedLine as LogLine } from '@fluxmq/testing'

export type TestBroker = ServedBroker<Broker, AmqpServer>

/** A Broker on MemoryStorage behind an AmqpServer on 127.0.0.1, port 0. */
export async function startBroker(over: Partial<AmqpServerOptions> = {}, brokerOver: Partial<BrokerOptions> = {}): Promise<TestBroker> {
  const logger = new RecordingLogger()
  const clock = { now: () => Date.now() }
  const broker = new Broker({ ...IN_PROCESS_BROKER_OPTIONS, clock, logger, storage: new MemoryStorage(), ...brokerOver })
  await broker.start()
  const server = new AmqpServer({
    broker,
    logger,
    clock,
    containerId: 'fluxmq-test',
    allowAnonymous: true,
    maxMessageSize: 1 << 20,
    connectTimeoutMs: 10_000,
    window: 256,
    maxWriteBuffer: 1 << 20,
    maxBufferedBytes: 64 << 20,
    ...over,
  })
  return serveOnLoopback(broker, server, logger)
}

/** Starts a broker for each test of the file and closes it, and every client, after it. */
export function testScope(over: Partial<AmqpServerOptions> = {}, brokerOver: Partial<BrokerOptions> = {}) {
  const clients: Connection[] = []
  let current: TestBroker | undefined
  afterEach(async () => {
    for (const c of clients.splice(0)) if (!c.is_closed()) c.close()
    await current?.close()
    current = undefined
  })
  return {
    get t(): TestBroker {
      if (current === undefined) throw new Error('start() first')
      return current
    },
    async start(o: Partial<AmqpServerOptions> = over, b: Partial<BrokerOptions> = brokerOver): Promise<TestBroker> {
      current = await startBroker(o, b)
      return current
    },
    /** A rhea client connection, open (or failed: rejects with the error). Never reconnects. */
    async client(options: Partial<ConnectionOptions> = {}): Promise<Connection> {
      const c = await openConnection({ port: this.t.port, ...options })
      clients.push(c)
      return c
    },
  }
}

export function openConnection(options: Partial<ConnectionOptions> & { port: number }): Promise<Connection> {
  const container = rhea.create_container()
  const c = container.connect({ host: '127.0.0.1', reconnect: false, tcp_no_delay: true, ...options } as unknown as ConnectionOptions)
  return new Promise((resolve, reject) => {
    c.once('connection_open', () => resolve(c))
    c.once('connection_error', (context: EventContext) => reject(context.error ?? context.connection.error ?? new Error('connection error')))
    c.once('disconnected', (context: EventContext) => reject(context.error ?? new Error('disconnected before open')))
  })
}

/** A receiver, attached (resolves), or detached by the broker (rejects with the link error). */
export function openReceiver(c: Connection, options: ReceiverOptions | string): Promise<Receiver> {
  const receiver = c.open_receiver(options)
  return linkOpened(receiver)
}

export function openSender(c: Connection, options: SenderOptions | string): Promise<Sender> {
  const sender = c.open_sender(options)
  return linkOpened(sender)
}

function linkOpened<T extends Receiver | Sender>(link: T): Promise<T> {
  return new Promise((resolve, reject) => {
    const prefix = link.is_receiver() ? 'receiver' : 'sender'
    link.once(`${prefix}_open`, () => {
      // A refused attach comes back as an attach without terminus and a detach right after.
      setImmediate(() => (link.is_closed() || link.error !== undefined ? reject(link.error ?? new Error('link closed')) : resolve(link)))
    })
    link.once(`${prefix}_error`, () => reject(link.error))
  })
}

/** The link's error once the broker detaches it. */
export function detached(link: Receiver | Sender): Promise<{ condition?: string; description?: string } | undefined> {
  const prefix = link.is_receiver() ? 'receiver' : 'sender'
  return new Promise((resolve) => link.once(`${prefix}_close`, () => resolve(link.error as { condition?: string } | undefined)))
}

/** Collects the messages a receiver gets. */
export class Inbox {
  readonly messages: Message[] = []
  private waiters: { count: number; resolve: () => void }[] = []

  constructor(receiver: Receiver) {
    receiver.on('message', (context: EventContext) => {
      if (context.message !== undefined) this.messages.push(context.message)
      this.waiters = this.waiters.filter((w) => {
        if (this.messages.length < w.count) return true
        w.resolve()
        return false
      })
    })
  }

  /** Resolves once `count` messages arrived in total. */
  until(count: number): Promise<Message[]> {
    if (this.messages.length >= count) return Promise.resolve(this.messages)
    return new Promise((resolve) => this.waiters.push({ count, resolve: () => resolve(this.messages) }))
  }
}

/** Sends and resolves with the outcome the broker gave the transfer ('accepted', 'rejected', …). */
export function sendAndSettle(sender: Sender, message: Message): Promise<{ outcome: string; error?: unknown }> {
  return new Promise((resolve) => {
    const delivery = sender.send(message)
    const id = delivery.id
    const on = (outcome: string) => (context: EventContext) => {
      if (context.delivery?.id !== id) return
      for (const [event, listener] of listeners) sender.off(event, listener)
      resolve({ outcome, error: (context.delivery.remote_state as { error?: unknown } | undefined)?.error })
    }
    const listeners = (['accepted', 'rejected', 'released', 'modified'] as const).map((o) => [o, on(o)] as const)
    for (const [event, listener] of listeners) sender.on(event, listener)
  })
}
