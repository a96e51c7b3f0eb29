import rhea from 'rhea'
import type { EventContext, Sender } from 'rhea'
import { beforeEach, describe, expect, it } from 'vitest'
import { Inbox, detached, openReceiver, openSender, sendAndSettle, testScope } from './test-support/harness.js'

const s = testScope()
beforeEach(async () => {
  await s.start()
})

/** Sends `total` unsettled messages as fast as credit allows; resolves with the accepted count once all are settled. */
function stream(sender: Sender, total: number): Promise<number> {
  let sent = 0
  let accepted = 0
  let settled = 0
  return new Promise((resolve) => {
    const pump = (): void => {
      while (sent < total && sender.sendable()) sender.send({ body: `m${sent++}` })
    }
    sender.on('sendable', pump)
    sender.on('accepted', () => accepted++)
    sender.on('settled', (_context: EventContext) => {
      if (++settled === total) resolve(accepted)
    })
    pump()
  })
}

describe('credit both ways', () => {
  it('a 100k unsettled stream completes: credit comes back as the broker absorbs it', async () => {
    const c = await s.client()
    const receiver = await openReceiver(c, { source: { address: 'stream/t' }, credit_window: 500 })
    const inbox = new Inbox(receiver)
    const sender = await openSender(c, { target: { address: 'stream/t' } })
    const total = 100_000
    expect(await stream(sender, total)).toBe(total)
    const all = await inbox.until(total)
    expect(all).toHaveLength(total)
    expect(all[total - 1]?.body).toBeDefined()
  }, 120_000)

  it('above limits.max_buffered_bytes a sender gets no credit back until the broker drains; nothing is lost', async () => {
    await s.t.close()
    await s.start({ maxBufferedBytes: 50_000, creditWindow: 20 })
    const c = await s.client()
    const receiver = await openReceiver(c, { source: { address: 'mem/t' }, credit_window: 0, autoaccept: true })
    const inbox = new Inbox(receiver)
    const sender = await openSender(c, { target: { address: 'mem/t' } })
    const total = 300
    let sent = 0
    let accepted = 0
    sender.on('accepted', () => accepted++)
    const pump = (): void => {
      while (sent < total && sender.sendable()) sender.send({ body: rhea.message.data_section(Buffer.alloc(1000, sent++ % 256)) })
    }
    sender.on('sendable', pump)
    pump()
    await new Promise((resolve) => setTimeout(resolve, 500))
    // The queued deliveries passed the bound: credit stopped coming back, the sender waits (rhea
    // buffers what it was asked to send beyond its credit).
    expect(accepted).toBeLessThan(total)
    expect(s.t.broker.stats.offlineQueuedCurrent).toBeLessThan(total)
    expect(s.t.server.stats.memoryPauses).toBeGreaterThan(0)
    receiver.add_credit(total)
    await inbox.until(total)
    expect(accepted).toBe(total)
  }, 60_000)

  it('a receiver whose socket accepts no bytes for limits.write_stall_timeout is disconnected; others go on', async () => {
    await s.t.close()
    await s.start({ writeStallTimeoutMs: 300, maxWriteBuffer: 64 * 1024 })
    const stuck = await s.client()
    await openReceiver(stuck, { source: { address: 'stall/t' }, credit_window: 100_000, snd_settle_mode: 1 })
    // The client stops reading: the broker's writes fill the kernel buffers, then its own.
    ;(stuck as unknown as { socket: { pause(): void } }).socket.pause()
    const c = await s.client()
    const sender = await openSender(c, { target: { address: 'stall/t' }, snd_settle_mode: 1 })
    const chunk = rhea.message.data_section(Buffer.alloc(4096, 7))
    const deadline = Date.now() + 20_000
    while (s.t.server.stats.writeStallDisconnects === 0 && Date.now() < deadline) {
      for (let i = 0; i < 200 && sender.sendable(); i++) sender.send({ body: chunk })
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    expect(s.t.server.stats.writeStallDisconnects).toBe(1)
    expect(s.t.logger.lines.some((l) => l.msg === 'AMQP peer accepts no bytes, disconnecting')).toBe(true)
    const receiver = await openReceiver(c, { source: { address: 'after/t' }, credit_window: 10 })
    const inbox = new Inbox(receiver)
    const other = await openSender(c, { target: { address: 'after/t' } })
    expect((await sendAndSettle(other, { body: 'still served' })).outcome).toBe('accepted')
    await inbox.until(1)
  }, 60_000)

  it('a sender that sends beyond its link credit is detached with amqp:link:transfer-limit-exceeded', async () => {
    await s.t.close()
    // Credit is withheld from the first message on (above max_buffered_bytes): 3 is all the sender has.
    await s.start({ creditWindow: 3, maxBufferedBytes: 1 })
    const c = await s.client()
    await openReceiver(c, { source: { address: 'over/t' }, credit_window: 0 })
    const sender = await openSender(c, { target: { address: 'over/t' } })
    const closed = detached(sender)
    // A misbehaving peer: credit it was never given.
    ;(sender as unknown as { credit: number }).credit = 100
    for (let i = 0; i < 10; i++) sender.send({ body: `x${i}` })
    expect(await closed).toMatchObject({ condition: 'amqp:link:transfer-limit-exceeded' })
    expect(s.t.logger.lines.some((l) => l.obj.code === 'FLUXMQ_ERR_AMQP_PROTOCOL')).toBe(true)
  })

  it('a pre-settled stream longer than the session window of rhea keeps flowing', async () => {
    const c = await s.client()
    const receiver = await openReceiver(c, { source: { address: 'presettled/many' }, credit_window: 500, snd_settle_mode: 1 })
    const inbox = new Inbox(receiver)
    const sender = await openSender(c, { target: { address: 'presettled/many' }, snd_settle_mode: 1 })
    const total = 5000
    let sent = 0
    const pump = (): void => {
      while (sent < total && sender.sendable()) sender.send({ body: `p${sent++}` })
    }
    sender.on('sendable', pump)
    pump()
    expect(await inbox.until(total)).toHaveLength(total)
  }, 60_000)

  it('pre-settled transfers are at most once: QoS 0, delivered pre-settled', async () => {
    const c = await s.client()
    const receiver = await openReceiver(c, { source: { address: 'presettled/t' }, credit_window: 10, snd_settle_mode: 1 })
    const settledOnArrival: boolean[] = []
    receiver.on('message', (context: EventContext) => settledOnArrival.push(context.delivery?.remote_settled === true))
    const inbox = new Inbox(receiver)
    const sender = await openSender(c, { target: { address: 'presettled/t' }, snd_settle_mode: 1 })
    sender.send({ body: 'fire and forget' })
    await inbox.until(1)
    expect(settledOnArrival).toEqual([true])
  })

  it('a link of the same name from the same container takes the session over: the first gets amqp:link:stolen', async () => {
    const first = await s.client({ container_id: 'app' })
    const old = await openReceiver(first, { name: 'orders', source: { address: 'steal/t' } })
    const stolen = detached(old)
    const second = await s.client({ container_id: 'app' })
    await openReceiver(second, { name: 'orders', source: { address: 'steal/t' } })
    expect(await stolen).toMatchObject({ condition: 'amqp:link:stolen' })
  })

  it('the peer detaching a receiver ends its subscription', async () => {
    const c = await s.client()
    const receiver = await openReceiver(c, { source: { address: 'gone/t' } })
    const sender = await openSender(c, { target: { address: 'gone/t' } })
    expect(s.t.broker.stats.subscriptionsCurrent).toBe(1)
    const closed = new Promise((resolve) => receiver.once('receiver_close', resolve))
    receiver.close()
    await closed
    await sendAndSettle(sender, { body: 'x' })
    expect(s.t.broker.stats.subscriptionsCurrent).toBe(0)
    expect(s.t.server.stats).toMatchObject({ connections: 1, linksIn: 1, linksOut: 0 })
  })
})
