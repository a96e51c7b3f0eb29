import net from 'node:net'

interface Pair {
  readonly client: net.Socket
  readonly upstream: net.Socket
  /** Answers held back while holding (see holdFrom), in order. */
  readonly held: Buffer[]
}

/**
 * A loopback TCP relay in front of a server, so a test can cut connections at a chosen moment,
 * refuse new ones, or hold the server's answers back while the requests still reach it (a call
 * then takes effect and its caller sees no answer before its deadline, as when an answer is lost).
 */
export class TcpProxy {
  private readonly pairs = new Set<Pair>()
  private readonly server: net.Server
  private refusing = false
  private holding = false
  /** Holding begins with the request that contains it (see holdFrom). */
  private marker: Buffer | undefined

  private constructor(targetPort: number, targetHost: string) {
    this.server = net.createServer((client) => {
      if (this.refusing) {
        client.resetAndDestroy()
        return
      }
      this.relay(client, net.connect(targetPort, targetHost))
    })
  }

  static async start(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetPort, targetHost)
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve))
    return proxy
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port
  }

  /** While refusing, new connections are reset at once, as by a peer that is down. */
  refuse(refusing: boolean): void {
    this.refusing = refusing
  }

  /**
   * Holds every answer from the request whose bytes contain `marker` on: the requests before it
   * are answered. (gRPC bodies are plain protobuf: a key or a value written shows as is.)
   */
  holdFrom(marker: string): void {
    this.marker = Buffer.from(marker)
  }

  /** Sends what was held, in order (the connections stay whole), and holds nothing more. */
  release(): void {
    this.holding = false
    this.marker = undefined
    for (const pair of this.pairs) for (const chunk of pair.held.splice(0)) pair.client.write(chunk)
  }

  /** Destroys every relayed connection at once: bytes not yet relayed are lost, as on a network cut. */
  cutAll(): void {
    for (const { client, upstream } of this.pairs) {
      client.destroy()
      upstream.destroy()
    }
    this.pairs.clear()
  }

  close(): Promise<void> {
    this.cutAll()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }

  private relay(client: net.Socket, upstream: net.Socket): void {
    const pair: Pair = { client, upstream, held: [] }
    this.pairs.add(pair)
    const drop = (): void => {
      this.pairs.delete(pair)
      client.destroy()
      upstream.destroy()
    }
    client.on('error', drop).on('close', drop)
    upstream.on('error', drop).on('close', drop)
    client.on('data', (chunk: Buffer) => {
      if (this.marker !== undefined && chunk.includes(this.marker)) this.holding = true
      upstream.write(chunk)
    })
    upstream.on('data', (chunk: Buffer) => {
      if (this.holding) pair.held.push(chunk)
      else client.write(chunk)
    })
  }
}
