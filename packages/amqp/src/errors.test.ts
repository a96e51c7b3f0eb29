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

  // Issue #12 (fuzz seed 2129037733): rhea decodes an array of a zero-width type element by
  // element without looking at the bytes left, so these 10 bytes (an array32 of 2^30 empty lists)
  // held the broker in one synchronous loop until its heap ran out.
  const BOMB = 'f0 00000005 40000000 45'
  const frameOf = (type: number, body: string): Buffer => {
    const bytes = Buffer.from(`00000000 02${type === 0 ? '00' : '01'}0000 ${body}`.replace(/\s/g, ''), 'hex')
    bytes.writeUInt32BE(bytes.length, 0)
    return bytes
  }
  const heapMiB = (): number => process.memoryUsage().heapUsed / 1048576

  for (const [where, bytes] of [
    // The seed's frame, reduced: a TRANSFER whose settled field is the array.
    ['in a performative', frameOf(0, `005314 c01105 43 43 a00100 43 ${BOMB}`)],
    // A TRANSFER of a message whose amqp-value is the array, on the client's sender (handle 0).
    ['in a message (rhea decodes what the direct decoder leaves)', frameOf(0, `005314 c00704 43 43 a00100 43 005377 ${BOMB}`)],
  ] as const) {
    it(`an array of 2^30 zero-width elements ${where}: CLOSE with amqp:decode-error, no heap growth, others go on`, async () => {
      await s.start()
      const bystander = await s.client()
      const bystanderReceiver = await openReceiver(bystander, { source: { address: 'alive/t' }, credit_window: 10 })
      const inbox = new Inbox(bystanderReceiver)
      const c = await s.client()
      await openSender(c, { target: { address: 'bomb/t' } })
      const closed = closedWith(c)
      const heapBefore = heapMiB()
      ;(c as unknown as { socket: Socket }).socket.write(bytes)
      expect(await closed).toBe('amqp:decode-error')
      expect(heapMiB() - heapBefore).toBeLessThan(64)
      expect(s.t.logger.lines.some((l) => l.obj.code === 'FLUXMQ_ERR_AMQP_PROTOCOL' && /more values than/.test(l.msg ?? ''))).toBe(true)
      const sender = await openSender(bystander, { target: { address: 'alive/t' } })
      expect((await sendAndSettle(sender, { body: 'still here' })).outcome).toBe('accepted')
      await inbox.until(1)
    })
  }

  it('the same array in a SASL frame before OPEN: the socket is closed, others go on', async () => {
    await s.start()
    const heapBefore = heapMiB()
    // SASL header, then SASL-INIT (0x41) whose body is the array.
    await raw(s.t.port, Buffer.concat([Buffer.from('414d515003010000', 'hex'), frameOf(1, `005341 ${BOMB}`)]))
    expect(heapMiB() - heapBefore).toBeLessThan(64)
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
