import { createServer, connect, type Server, type Socket } from 'node:net'

/**
 * A TCP proxy in front of one etcd member that can hold back the member's answers while the
 * requests still reach it: a call commits in etcd, and the client sees no answer before its
 * deadline, as when an answer is lost (a congested link, a member slow to reply). Released, the
 * held bytes go on in order, so the HTTP/2 connection stays whole.
 */
export class HeldAnswers {
  private holding = false
  /** Holding begins with the request that contains it (see holdFrom). */
  private marker: Buffer | undefined
  private readonly pairs = new Set<{ readonly toClient: Socket; readonly held: Buffer[] }>()
  private readonly sockets = new Set<Socket>()

  private constructor(private readonly server: Server) {}

  /** Listens on a free loopback port, forwarding to `target` (host:port). */
  static async start(target: string): Promise<HeldAnswers> {
    const [host, port] = target.replace(/^https?:\/\//, '').split(':') as [string, string]
    const server = createServer()
    const proxy = new HeldAnswers(server)
    server.on('connection', (client) => proxy.pipe(client, connect(Number(port), host)))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return proxy
  }

  /** The URL clients connect to. */
  get endpoint(): string {
    const address = this.server.address()
    if (address === null || typeof address === 'string') throw new Error('proxy not listening')
    return `http://127.0.0.1:${address.port}`
  }

  /**
   * Holds every answer from the request whose bytes contain `marker` on (gRPC bodies are plain
   * protobuf: a key or a value written shows as is): the requests before it are answered.
   */
  holdFrom(marker: string): void {
    this.marker = Buffer.from(marker)
  }

  release(): void {
    this.holding = false
    this.marker = undefined
    for (const pair of this.pairs) for (const chunk of pair.held.splice(0)) pair.toClient.write(chunk)
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  private pipe(client: Socket, member: Socket): void {
    const pair = { toClient: client, held: [] as Buffer[] }
    this.pairs.add(pair)
    this.sockets.add(client).add(member)
    client.on('data', (chunk: Buffer) => {
      if (this.marker !== undefined && chunk.includes(this.marker)) this.holding = true
      member.write(chunk)
    })
    member.on('data', (chunk: Buffer) => {
      if (this.holding) pair.held.push(chunk)
      else client.write(chunk)
    })
    const end = (): void => {
      this.pairs.delete(pair)
      client.destroy()
      member.destroy()
    }
    client.on('close', end).on('error', end)
    member.on('close', end).on('error', end)
  }
}
