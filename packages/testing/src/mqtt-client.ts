import { connect } from 'mqtt'
import type { IClientOptions, IConnackPacket, IPublishPacket, MqttClient } from 'mqtt'
import { withTimeout } from './deadline.js'

export interface OpenedClient {
  readonly client: MqttClient
  /** The CONNACK as received: sessionPresent, reasonCode, MQTT 5 properties. */
  readonly connack: IConnackPacket
  /**
   * Every message since before the CONNECT was sent: a resumed session's messages arrive in the
   * same read as the CONNACK, before any listener added after the connect could see them.
   */
  readonly inbox: MessageCollector
}

/**
 * Connects an mqtt.js client and resolves with its CONNACK. No automatic reconnect (a test says
 * when to reconnect); a refused CONNECT or a closed socket rejects.
 */
export function openClient(url: string, options: IClientOptions = {}): Promise<OpenedClient> {
  const client = connect(url, { reconnectPeriod: 0, connectTimeout: 5_000, ...options })
  const inbox = new MessageCollector(client)
  return new Promise<OpenedClient>((resolve, reject) => {
    const fail = (error: Error): void => {
      client.removeListener('connect', succeed)
      client.end(true)
      reject(error)
    }
    const closed = (): void => fail(new Error(`connection to ${url} closed before CONNACK`))
    const succeed = (connack: IConnackPacket): void => {
      client.removeListener('error', fail)
      client.removeListener('close', closed)
      resolve({ client, connack, inbox })
    }
    client.once('connect', succeed)
    client.once('error', fail)
    client.once('close', closed)
  })
}

/**
 * Connects the same mqtt.js client again (same URL and options) and keeps its in-memory state:
 * unacknowledged outgoing publishes and PUBRELs are sent again, incoming QoS 2 packet ids are
 * remembered. What a real client does when its broker comes back. Resolves with the CONNACK.
 */
export function reconnectClient(client: MqttClient): Promise<IConnackPacket> {
  return new Promise<IConnackPacket>((resolve, reject) => {
    const fail = (error: Error): void => {
      client.removeListener('connect', succeed)
      client.removeListener('close', closed)
      reject(error)
    }
    const closed = (): void => fail(new Error('connection closed before CONNACK'))
    const succeed = (connack: IConnackPacket): void => {
      client.removeListener('error', fail)
      client.removeListener('close', closed)
      resolve(connack)
    }
    client.once('connect', succeed)
    client.once('error', fail)
    client.once('close', closed)
    client.reconnect({ incomingStore: client.incomingStore, outgoingStore: client.outgoingStore })
  })
}

/**
 * Ends the connection as a network failure would: the socket is destroyed, no DISCONNECT is sent,
 * so the broker publishes the will [MQTT-3.1.2-8].
 */
export async function dropConnection(client: MqttClient): Promise<void> {
  client.stream.destroy()
  await client.endAsync(true)
}

/** Normal DISCONNECT (reason 0x00) when still connected; otherwise just releases the client. */
export async function closeClient(client: MqttClient): Promise<void> {
  await client.endAsync(!client.connected)
}

export interface ReceivedMessage {
  readonly topic: string
  readonly payload: Buffer
  readonly packet: IPublishPacket
}

/**
 * Every PUBLISH one client receives from the moment it is created. Create it before subscribing:
 * retained messages can arrive before the SUBACK promise resolves.
 */
export class MessageCollector {
  readonly messages: ReceivedMessage[] = []
  private readonly listeners = new Set<() => void>()
  private readonly onMessage = (topic: string, payload: Buffer, packet: IPublishPacket): void => {
    this.messages.push({ topic, payload, packet })
    for (const listener of this.listeners) listener()
  }

  constructor(private readonly client: MqttClient) {
    client.on('message', this.onMessage)
  }

  /** Payloads as UTF-8 text, in arrival order. */
  get texts(): string[] {
    return this.messages.map((message) => message.payload.toString('utf8'))
  }

  /** Resolves with the first `count` messages once that many arrived. */
  waitForCount(count: number, timeoutMs = 10_000): Promise<ReceivedMessage[]> {
    return this.until(() => this.messages.length >= count, timeoutMs, () => `${count} messages (have ${this.messages.length})`).then(() =>
      this.messages.slice(0, count),
    )
  }

  /** The first message (already received or future) that passes `test`. */
  waitFor(test: (message: ReceivedMessage) => boolean, timeoutMs = 10_000): Promise<ReceivedMessage> {
    return this.until(() => this.messages.some(test), timeoutMs, 'a matching message').then(() => this.messages.find(test) as ReceivedMessage)
  }

  stop(): void {
    this.client.removeListener('message', this.onMessage)
    this.listeners.clear()
  }

  private until(done: () => boolean, timeoutMs: number, what: string | (() => string)): Promise<void> {
    if (done()) return Promise.resolve()
    let listener: () => void = () => undefined
    const reached = new Promise<void>((resolve) => {
      listener = () => {
        if (done()) resolve()
      }
      this.listeners.add(listener)
    })
    return withTimeout(reached, timeoutMs, what).finally(() => this.listeners.delete(listener))
  }
}
