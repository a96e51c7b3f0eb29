import { connect, createServer } from 'node:net'
import type { AddressInfo, Server, Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { runFuzz } from './fuzz.js'
import type { FuzzOptions } from './fuzz.js'
import { RecordingLogger } from './recording-logger.js'

/** The well-behaved client's first byte (fuzz inputs here start below it): it is never idle-closed. */
const GOOD = 0xff

/**
 * A stand-in protocol on a real loopback listener: echoes what it reads, closes a connection the
 * client half-closed, and (when `idleMs` is set) one that sent nothing for that long, but for the
 * well-behaved client's (a loaded machine may stall its pings).
 */
async function echoServer(idleMs: number | undefined): Promise<{ server: Server; port: number; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>()
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    socket.once('data', (chunk: Buffer) => {
      if (chunk[0] === GOOD) socket.setTimeout(0)
    })
    socket.on('data', (chunk) => socket.write(chunk))
    socket.on('end', () => socket.end())
    if (idleMs !== undefined) socket.setTimeout(idleMs, () => socket.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { server, port: (server.address() as AddressInfo).port, sockets }
}

const servers: { server: Server; sockets: Set<Socket> }[] = []
const clients: Socket[] = []
afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy()
  for (const { server, sockets } of servers.splice(0)) {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => server.close(resolve))
  }
})

/** A fuzz run against `port` whose well-behaved client pings through the echo. */
async function options(port: number, over: Partial<FuzzOptions> = {}): Promise<FuzzOptions> {
  const good = connect(port, '127.0.0.1')
  clients.push(good)
  await new Promise((resolve) => good.once('connect', resolve))
  good.write(Buffer.from([GOOD]))
  const logger = new RecordingLogger()
  return {
    port,
    seconds: 1,
    seed: 42,
    workers: 2,
    perWorker: 2,
    hangMs: 1000,
    slowPeerChance: 0.2,
    minConnectionsPerSecond: 1,
    input: (random) => ({ bytes: Buffer.from([1 + Math.floor(random() * 200), 2, 3]), endFromClient: random() < 0.5 }),
    roundTrip: (n) =>
      new Promise((resolve) => {
        const ping = `ping${n};`
        let seen = ''
        const onData = (chunk: Buffer): void => {
          seen += chunk.toString()
          if (!seen.includes(ping)) return
          good.off('data', onData)
          resolve()
        }
        good.on('data', onData)
        good.write(ping)
      }),
    connections: () => servers[0]?.sockets.size ?? 0,
    logger,
    broker: { tick: () => {}, stats: { sessionsCurrent: 0 } },
    ...over,
  }
}

describe('runFuzz', () => {
  it('runs workers and the well-behaved client against a server that closes every connection', async () => {
    const echo = await echoServer(300)
    servers.push(echo)
    const report = await runFuzz(await options(echo.port))
    expect(report.connections).toBeGreaterThan(1)
    expect(report.heapGrowth).toBeLessThan(8 * 1024 * 1024)
  }, 20_000)

  it('fails, with the seed and the input, when the server never closes a connection the client left open', async () => {
    const echo = await echoServer(undefined)
    servers.push(echo)
    const run = runFuzz(await options(echo.port, { hangMs: 300, input: () => ({ bytes: Buffer.from('stay'), endFromClient: false }) }))
    await expect(run).rejects.toThrow(/not closed by the server within 300 ms \(seed 42\); input 73746179/)
  }, 20_000)

  it('fails when the broker logged an error during the run', async () => {
    const echo = await echoServer(300)
    servers.push(echo)
    const fuzz = await options(echo.port)
    const input = fuzz.input
    const run = runFuzz({
      ...fuzz,
      input: (random, id) => {
        if (id === 3) fuzz.logger.error({ clientId: 'fuzz-3' }, 'handler failed')
        return input(random, id)
      },
    })
    await expect(run).rejects.toThrow(/fuzz \(seed 42\): error log lines: .*handler failed/)
  }, 20_000)
})
