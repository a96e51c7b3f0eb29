import { connect } from 'node:net'
import type { Socket } from 'node:net'
import rhea from 'rhea'
import type { Connection, EventContext } from 'rhea'
import { afterEach, describe, expect, it } from 'vitest'
import { Inbox, openReceiver, openSender, sendAndSettle, testScope } from './test-support/harness.js'

const s = testScope()
const sockets: Socket[] = []
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.destroy()
})

/** AMQP protocol header without SASL, then OPEN (container "raw"), as bytes. */
const HEADER = Buffer.from('414d515000010000', 'hex')
/** Frame header (size 25, doff 2, AMQP, channel 0), described open (0x10), list32 of one field: container-id "raw". */
const OPEN_RAW = Buffer.from('0000001902000000005310d00000000900000001a103726177', 'hex')

/** A raw socket on the listener; resolves with everything received once the broker closed it. */
function raw(port: number, bytes: Buffer): Promise<Buffer> {
  const socket = connect(port, '127.0.0.1')
  sockets.push(socket)
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  socket.write(bytes)
  return new Promise((resolve) => socket.on('close', () => resolve(Buffer.concat(chunks))))
}

/** The condition of the CLOSE the broker sends this client. */
function closedWith(c: Connection): Promise<string | undefined> {
  return new Promise((resolve) => c.once('connection_error', (context: EventContext) => resolve((context.connection.error as { condition?: string } | undefined)?.condition)))
}

async function stillServes(): Promise<void> {
  const c = await s.client()
  const receiver = await openReceiver(c, { source: { address: 'alive/t' }, credit_window: 10 })
  const inbox = new Inbox(receiver)
  const sender = await openSender(c, { target: { address: 'alive/t' } })
  expect((await sendAndSettle(sender, { body: 'x' })).outcome).toBe('accepted')
  await inbox.until(1)
}

describe('bad input closes one connection with a condition, never the broker', () => {
  it('a frame above max-frame-size: CLOSE with amqp:connection:framing-error', async () => {
    await s.start({ maxFrameSize: 4096 })
    const bystander = await s.client()
    const bystanderReceiver = await openReceiver(bystander, { source: { address: 'alive/t' }, credit_window: 10 })
    const inbox = new Inbox(bystanderReceiver)
    const c = await s.client()
    const closed = closedWith(c)
    const socket = (c as unknown as { socket: Socket }).socket
    const huge = Buffer.alloc(8)
    huge.writeUInt32BE(1 << 20, 0)
    socket.write(huge)
    expect(await closed).toBe('amqp:connection:framing-error')
    expect(s.t.logger.lines.some((l) => l.obj.code === 'FLUXMQ_ERR_AMQP_FRAMING')).toBe(true)
    const sender = await openSender(bystander, { target: { address: 'alive/t' } })
    sender.send({ body: 'still here' })
    await inbox.until(1)
  })

  it('an undecodable performative after OPEN: CLOSE with a condition', async () => {
    await s.start()
    const c = await s.client()
    const closed = closedWith(c)
    const socket = (c as unknown as { socket: Socket }).socket
    // A frame of a valid size whose body is not a described performative.
    socket.write(Buffer.from('0000000c02000000ffffffff', 'hex'))
    expect(await closed).toMatch(/^amqp:/)
    await stillServes()
  })

  it('a bad protocol header or garbage before OPEN: the socket is closed', async () => {
    await s.start()
    await raw(s.t.port, Buffer.from('GET / HTTP/1.1\r\n\r\n'))
    await raw(s.t.port, Buffer.concat([HEADER, Buffer.from('00000002', 'hex')]))
    await stillServes()
  })

  it('a peer that sends nothing for twice the idle-time-out is closed', async () => {
    await s.start({ idleTimeoutMs: 200 })
    const started = Date.now()
    const received = await raw(s.t.port, Buffer.concat([HEADER, OPEN_RAW]))
    expect(Date.now() - started).toBeGreaterThanOrEqual(350)
    expect(received.includes(Buffer.from('amqp:resource-limit-exceeded'))).toBe(true)
  })

  it('a message above max-message-size detaches its link with amqp:link:message-size-exceeded; the connection goes on', async () => {
    await s.start({ maxFrameSize: 4096, maxMessageSize: 10_000 })
    const c = await s.client()
    const big = await openSender(c, { target: { address: 'big/t' } })
    const closed = new Promise((resolve) => big.once('sender_close', () => resolve(big.error)))
    big.send({ body: rhea.message.data_section(Buffer.alloc(50_000, 1)) })
    expect(await closed).toMatchObject({ condition: 'amqp:link:message-size-exceeded' })
    const receiver = await openReceiver(c, { source: { address: 'small/t' }, credit_window: 10 })
    const inbox = new Inbox(receiver)
    const small = await openSender(c, { target: { address: 'small/t' } })
    expect((await sendAndSettle(small, { body: rhea.message.data_section(Buffer.alloc(9_000, 2)) })).outcome).toBe('accepted')
    await inbox.until(1)
  })

  it('without a connect timeout, a peer that stops inside the protocol header is closed by the idle watch', async () => {
    await s.start({ connectTimeoutMs: 0, idleTimeoutMs: 200 })
    const started = Date.now()
    await raw(s.t.port, HEADER.subarray(0, 4))
    expect(Date.now() - started).toBeGreaterThanOrEqual(350)
  })

  it('a socket that never opens is closed after the connect timeout', async () => {
    await s.start({ connectTimeoutMs: 200 })
    await raw(s.t.port, HEADER.subarray(0, 4))
  })
})
