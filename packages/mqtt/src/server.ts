import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { ReasonCode } from '@fluxmq/core'
import { Connection } from './connection.js'
import type { ConnectionHost } from './connection.js'
import type { Listener, StreamAcceptor } from './listeners/listener.js'
import { listenTcp } from './listeners/tcp.js'
import { listenTls } from './listeners/tls.js'
import { listenWebSocket } from './listeners/websocket.js'
import { resolveOptions } from './options.js'
import type { ListenOptions, MqttServerOptions, ResolvedOptions, TlsListenOptions, WebSocketListenOptions } from './options.js'
import { FlushScheduler } from './writer.js'

/** The MQTT 3.1.1 / 5.0 front of a broker: listeners and the connections they accept. */
export class MqttServer implements ConnectionHost, StreamAcceptor {
  readonly options: ResolvedOptions
  readonly scheduler: FlushScheduler
  private readonly connections = new Set<Connection>()
  private readonly listeners: Listener[] = []
  private closed: Promise<void> | undefined
  private allClosed: (() => void) | undefined

  constructor(options: MqttServerOptions) {
    this.options = resolveOptions(options)
    this.scheduler = new FlushScheduler(options.broker)
  }

  get connectionCount(): number {
    return this.connections.size
  }

  listenTcp(options: ListenOptions): Promise<AddressInfo> {
    return this.addListener(listenTcp(options, this, this.options.clock, this.listenerLogger('tcp')))
  }

  listenTls(options: TlsListenOptions): Promise<AddressInfo> {
    return this.addListener(listenTls(options, this, this.options.clock, this.listenerLogger('tls')))
  }

  listenWebSocket(options: WebSocketListenOptions): Promise<AddressInfo> {
    return this.addListener(listenWebSocket(options, this, this.options.clock, this.listenerLogger('websocket'), this.options.maxPacketSize))
  }

  /** Serves MQTT over any byte stream (a socket, a WebSocket stream, a test pipe). */
  handleStream(stream: Duplex, remoteAddress?: string): void {
    this.accept(stream, remoteAddress, undefined)
  }

  accept(stream: Duplex, remoteAddress: string | undefined, refusal: ReasonCode | undefined): void {
    if (this.closed !== undefined) {
      stream.destroy()
      return
    }
    this.connections.add(new Connection(stream, remoteAddress, this, refusal))
  }

  connectionClosed(connection: Connection): void {
    this.connections.delete(connection)
    if (this.connections.size === 0) this.allClosed?.()
  }

  /**
   * The graceful shutdown, in two phases. Stops accepting and begins the broker's shutdown
   * (BrokerCore.beginShutdown): the wills that closing the connections makes due are published
   * while every subscriber is still connected. Then every client gets DISCONNECT 0x8B (MQTT 5)
   * behind what was queued for it, those wills included, and the promise resolves once every
   * socket is closed.
   */
  close(): Promise<void> {
    return (this.closed ??= this.shutDown())
  }

  private async shutDown(): Promise<void> {
    const listeners = this.listeners.splice(0).map((listener) => listener.close())
    // Each connection's writer sends what is queued before its DISCONNECT, so the will deliveries
    // of the first phase reach their subscribers before any of them is told to go.
    this.options.broker.beginShutdown()
    if (this.connections.size > 0) {
      const allClosed = new Promise<void>((resolve) => (this.allClosed = resolve))
      for (const connection of this.connections) connection.terminate(ReasonCode.ServerShuttingDown, 'server shutting down')
      await allClosed
    }
    await Promise.all(listeners)
  }

  private async addListener(starting: Promise<Listener>): Promise<AddressInfo> {
    const listener = await starting
    if (this.closed !== undefined) {
      await listener.close()
      throw new Error('MqttServer is closed')
    }
    this.listeners.push(listener)
    return listener.address
  }

  private listenerLogger(listener: string) {
    return this.options.logger.child({ listener })
  }
}
