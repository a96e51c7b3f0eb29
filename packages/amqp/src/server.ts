import { createServer } from 'node:net'
import type { AddressInfo, Server, Socket } from 'node:net'
import { createServer as createTlsServer } from 'node:tls'
import { MemoryGate } from '@fluxmq/core'
import type { MemoryWaiter } from '@fluxmq/core'
import rhea from 'rhea'
import type { Container } from 'rhea'
import { AmqpConnection } from './connection.js'
import type { ConnectionHost } from './connection.js'
import { AmqpListenError } from './errors.js'
import type { AmqpLink } from './link-host.js'
import { resolveOptions } from './options.js'
import type { AmqpServerOptions, ListenOptions, ResolvedOptions, TlsListenOptions } from './options.js'

/** How often a process above limits.max_buffered_bytes looks whether it has drained. */
const MEMORY_CHECK_MS = 20

/** One AMQP link as the admin API lists it. */
export interface AmqpLinkInfo {
  /** The core session's client id: `<container-id>/<in|out>/<link-name>` (`in`: the peer sends). */
  readonly clientId: string
  readonly container: string
  readonly name: string
  /** `in`: the peer sends (publishes); `out`: the peer receives (subscribes or consumes). */
  readonly direction: 'in' | 'out'
  readonly address: string
}

export interface AmqpConnectionInfo {
  readonly container: string
  readonly remoteAddress?: string
  readonly username?: string
  readonly links: readonly AmqpLinkInfo[]
}

/** What the AMQP front counts itself (the core counts messages and sessions). */
export interface AmqpServerStats {
  readonly connections: number
  readonly linksIn: number
  readonly linksOut: number
  readonly connectionsTotal: number
  /** Times a sender's credit was held back because the process was above limits.max_buffered_bytes. */
  readonly memoryPauses: number
  /** Connections closed because their socket accepted no byte for limits.write_stall_timeout. */
  readonly writeStallDisconnects: number
}

/** The AMQP 1.0 front of a broker (rhea in server mode): listeners and the connections they accept. */
export class AmqpServer implements ConnectionHost {
  readonly options: ResolvedOptions
  readonly container: Container
  private readonly connections = new Set<AmqpConnection>()
  private readonly servers: Server[] = []
  /** Senders whose credit is held back until the process is below limits.max_buffered_bytes. */
  private readonly memory: MemoryGate<MemoryWaiter>
  private memoryTimer: NodeJS.Timeout | undefined
  private stallTimer: NodeJS.Timeout | undefined
  private linksIn = 0
  private linksOut = 0
  private connectionsTotal = 0
  private writeStallDisconnects = 0
  private closed: Promise<void> | undefined
  private allClosed: (() => void) | undefined

  constructor(options: AmqpServerOptions) {
    this.options = resolveOptions(options)
    this.container = rhea.create_container({ id: this.options.containerId })
    // Every event is handled on its connection; one that still reaches the container is logged, never thrown.
    this.container.on('error', (err: Error) => this.options.logger.warn({ err }, 'AMQP error'))
    this.memory = new MemoryGate(this.options.maxBufferedBytes, () => this.bufferedBytes, this.options.logger, 'above max_buffered_bytes, AMQP senders get no credit')
  }

  get stats(): AmqpServerStats {
    return {
      connections: this.connections.size,
      linksIn: this.linksIn,
      linksOut: this.linksOut,
      connectionsTotal: this.connectionsTotal,
      memoryPauses: this.memory.pauses,
      writeStallDisconnects: this.writeStallDisconnects,
    }
  }

  /** Bytes the sockets have not accepted yet; with the core's queued deliveries, what limits.max_buffered_bytes bounds. */
  get writeBufferedBytes(): number {
    let bytes = 0
    for (const connection of this.connections) bytes += connection.bufferedBytes
    return bytes
  }

  connectionList(): AmqpConnectionInfo[] {
    return [...this.connections].map((c) => ({
      container: c.containerId,
      ...(c.remoteAddress === undefined ? {} : { remoteAddress: c.remoteAddress }),
      ...(c.username === undefined ? {} : { username: c.username }),
      links: [...c.allLinks].map((l) => ({ clientId: l.clientId, container: c.containerId, name: l.name, direction: l.direction, address: l.address })),
    }))
  }

  listenTcp(options: ListenOptions): Promise<AddressInfo> {
    return this.listen(createServer(), options, 'connection')
  }

  listenTls(options: TlsListenOptions): Promise<AddressInfo> {
    const server = createTlsServer({
      cert: options.cert,
      key: options.key,
      ...(options.ca === undefined ? {} : { ca: options.ca }),
      requestCert: options.clientAuth !== 'none',
      rejectUnauthorized: options.clientAuth === 'require',
    })
    return this.listen(server, options, 'secureConnection')
  }

  private listen(server: Server, options: ListenOptions, event: 'connection' | 'secureConnection'): Promise<AddressInfo> {
    if (this.closed !== undefined) return Promise.reject(new AmqpListenError('AmqpServer is closed'))
    server.on(event, (socket: Socket) => this.accept(socket))
    // A TLS handshake that fails concerns that client only.
    server.on('tlsClientError', (err: Error) => this.options.logger.debug({ err }, 'AMQPS handshake failed'))
    return new Promise((resolve, reject) => {
      const failed = (err: Error): void => reject(new AmqpListenError(`AMQP listener on ${options.host}:${options.port}: ${err.message}`, { cause: err }))
      server.once('error', failed)
      server.listen({ host: options.host === '' ? undefined : options.host, port: options.port }, () => {
        server.off('error', failed)
        server.on('error', (err: Error) => this.options.logger.error({ err }, 'AMQP listener error'))
        this.servers.push(server)
        resolve(server.address() as AddressInfo)
      })
    })
  }

  private accept(socket: Socket): void {
    if (this.closed !== undefined) {
      socket.destroy()
      return
    }
    socket.setNoDelay(true)
    this.connectionsTotal++
    this.connections.add(new AmqpConnection(socket, this))
    const stallMs = this.options.writeStallTimeoutMs
    if (stallMs > 0) this.stallTimer ??= setInterval(this.sweepStalls, Math.max(10, Math.min(1000, stallMs / 4))).unref()
  }

  /** One pass of the write-stall watch over the open connections. */
  private readonly sweepStalls = (): void => {
    const now = Date.now()
    for (const connection of this.connections) if (connection.stalled(now, this.options.writeStallTimeoutMs)) this.writeStallDisconnects++
  }

  linkOpened(link: AmqpLink): void {
    if (link.direction === 'in') this.linksIn++
    else this.linksOut++
  }

  linkClosed(link: AmqpLink): void {
    if (link.direction === 'in') this.linksIn--
    else this.linksOut--
    // Only incoming links wait for memory; forgetting what is not there is a no-op.
    this.memory.forget(link as AmqpLink & MemoryWaiter)
  }

  connectionClosed(connection: AmqpConnection): void {
    this.connections.delete(connection)
    if (this.connections.size > 0) return
    clearInterval(this.stallTimer)
    this.stallTimer = undefined
    this.allClosed?.()
  }

  overMemory(waiter: MemoryWaiter): boolean {
    if (!this.memory.hold(waiter)) return false
    this.memoryTimer ??= setInterval(this.checkMemory, MEMORY_CHECK_MS)
    return true
  }

  private get bufferedBytes(): number {
    return this.options.bufferedBytes?.() ?? this.options.broker.stats.queuedBytes + this.writeBufferedBytes
  }

  private readonly checkMemory = (): void => {
    if (!this.memory.release(this.closed !== undefined)) return
    clearInterval(this.memoryTimer)
    this.memoryTimer = undefined
  }

  /**
   * Stops accepting, closes every connection with amqp:connection:forced (their links' sessions
   * end in the core) and resolves once every socket is closed.
   */
  close(): Promise<void> {
    return (this.closed ??= this.shutDown())
  }

  private async shutDown(): Promise<void> {
    const listeners = this.servers.splice(0).map((server) => new Promise<void>((resolve) => server.close(() => resolve())))
    if (this.connections.size > 0) {
      const allClosed = new Promise<void>((resolve) => (this.allClosed = resolve))
      for (const connection of this.connections) connection.terminate('server shutting down')
      await allClosed
    }
    await Promise.all(listeners)
    this.checkMemory()
  }
}
