import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { MemoryGate } from '@fluxmq/core'
import { ReasonCode } from '@fluxmq/mqtt-codec'
import { Connection } from './connection.js'
import type { ConnectionHost } from './connection.js'
import type { Listener, StreamAcceptor } from './listeners/listener.js'
import { listenTcp } from './listeners/tcp.js'
import { listenTls } from './listeners/tls.js'
import { listenWebSocket } from './listeners/websocket.js'
import { resolveOptions } from './options.js'
import type { ListenOptions, MqttServerOptions, ResolvedOptions, TlsListenOptions, WebSocketListenOptions } from './options.js'
import { FlushScheduler, StallWatch } from './writer.js'

/** How often a process above limits.max_buffered_bytes looks whether it has drained. */
const MEMORY_CHECK_MS = 20

/** What the MQTT front counts itself (the core counts the rest). */
export interface MqttServerStats {
  /** Clients disconnected because their socket accepted no byte for limits.write_stall_timeout. */
  writeStallDisconnects: number
  /** Times a publisher stopped being read because the process was above limits.max_buffered_bytes. */
  memoryPauses: number
}

/** The MQTT 3.1.1 / 5.0 front of a broker: listeners and the connections they accept. */
export class MqttServer implements ConnectionHost, StreamAcceptor {
  readonly options: ResolvedOptions
  readonly scheduler: FlushScheduler
  readonly stalls: StallWatch
  private writeStallDisconnects = 0
  private readonly connections = new Set<Connection>()
  /** Publishers not read until the process is back below limits.max_buffered_bytes. */
  private readonly memory: MemoryGate<Connection>
  private memoryTimer: NodeJS.Timeout | undefined
  private readonly listeners: Listener[] = []
  private closed: Promise<void> | undefined
  private allClosed: (() => void) | undefined

  constructor(options: MqttServerOptions) {
    this.options = resolveOptions(options)
    this.scheduler = new FlushScheduler(options.broker)
    this.stalls = new StallWatch(this.options.writeStallTimeoutMs)
    this.memory = new MemoryGate(this.options.maxBufferedBytes, () => this.bufferedBytes, this.options.logger, 'above max_buffered_bytes, publishers paused')
  }

  get stats(): MqttServerStats {
    return { writeStallDisconnects: this.writeStallDisconnects, memoryPauses: this.memory.pauses }
  }

  /** Queued deliveries in the core and bytes the sockets have not accepted: what limits.max_buffered_bytes bounds. */
  get bufferedBytes(): number {
    return this.options.broker.stats.queuedBytes + this.scheduler.bufferedBytes
  }

  writeStalled(): void {
    this.writeStallDisconnects++
  }

  overMemory(connection: Connection): boolean {
    if (!this.memory.hold(connection)) return false
    this.memoryTimer ??= setInterval(this.checkMemory, MEMORY_CHECK_MS)
    return true
  }

  private readonly checkMemory = (): void => {
    if (!this.memory.release(this.closed !== undefined)) return
    clearInterval(this.memoryTimer)
    this.memoryTimer = undefined
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
    this.memory.forget(connection)
    if (this.connections.size === 0) this.allClosed?.()
  }

  /**
   * The graceful shutdown, in two phases. Stops accepting and begins the broker's shutdown
   * (BrokerCore.beginShutdown): the wills that closing the connections makes due are published
   * while every subscriber is still connected. Then every client gets DISCONNECT 0x8B (MQTT 5)
   * behind what was queued for it, those wills included, and the promise resolves once every
   * socket is closed. A clustered node that leaves passes `moveTo`: an MQTT 5 client it names an
   * address for gets DISCONNECT 0x9C Use another server with that Server Reference instead.
   */
  close(moveTo?: () => string | undefined): Promise<void> {
    return (this.closed ??= this.shutDown(moveTo))
  }

  private async shutDown(moveTo: (() => string | undefined) | undefined): Promise<void> {
    const listeners = this.listeners.splice(0).map((listener) => listener.close())
    // Each connection's writer sends what is queued before its DISCONNECT, so the will deliveries
    // of the first phase reach their subscribers before any of them is told to go.
    this.options.broker.beginShutdown()
    if (this.connections.size > 0) {
      const allClosed = new Promise<void>((resolve) => (this.allClosed = resolve))
      for (const connection of this.connections) {
        // Asked only for the clients that can be told (v5 after CONNACK): the addresses go round.
        const serverReference = moveTo !== undefined && connection.canBeRedirected ? moveTo() : undefined
        if (serverReference === undefined) connection.terminate(ReasonCode.ServerShuttingDown, 'server shutting down')
        else connection.terminate(ReasonCode.UseAnotherServer, 'server shutting down', serverReference)
      }
      await allClosed
    }
    await Promise.all(listeners)
    this.stalls.stop()
    this.checkMemory()
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
