import net from 'node:net'

/** A loopback TCP relay in front of a server, so a test can cut connections at a chosen moment. */
export class TcpProxy {
  private readonly pairs = new Set<readonly [net.Socket, net.Socket]>()
  private readonly server: net.Server
  private refusing = false

  private constructor(targetPort: number) {
    this.server = net.createServer((client) => {
      if (this.refusing) {
        client.resetAndDestroy()
        return
      }
      const upstream = net.connect(targetPort, '127.0.0.1')
      const pair = [client, upstream] as const
      this.pairs.add(pair)
      const drop = (): void => {
        this.pairs.delete(pair)
        client.destroy()
        upstream.destroy()
      }
      client.on('error', drop).on('close', drop)
      upstream.on('error', drop).on('close', drop)
      client.pipe(upstream)
      upstream.pipe(client)
    })
  }

  static async start(targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetPort)
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

  /** Destroys every relayed connection at once: bytes not yet relayed are lost, as on a network cut. */
  cutAll(): void {
    for (const [client, upstream] of this.pairs) {
      client.destroy()
      upstream.destroy()
    }
    this.pairs.clear()
  }

  close(): Promise<void> {
    this.cutAll()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }
}
