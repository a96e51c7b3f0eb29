import rhea from 'rhea'
import type { EventContext } from 'rhea'
import { beforeEach, describe, expect, it } from 'vitest'
import { Inbox, openReceiver, openSender, sendAndSettle, testScope } from './test-support/harness.js'

const s = testScope({ window: 16 })
beforeEach(async () => {
  await s.start()
})

const body = (m: { body: { content?: unknown } }): string => Buffer.from(m.body.content as Buffer).toString()

/**
 * Deliveries are written below rhea's session (direct-transfer.ts); these hold rhea's accounting
 * to what it would have done itself: ids in order, settlements matched, windows reopened.
 */
describe('transfers written below rhea', () => {
  it('messages larger than the receiver max-frame-size go through rhea, split, in order with the direct ones', async () => {
    const c = await s.client({ max_frame_size: 512 })
    const receiver = await openReceiver(c, { source: { address: 'split/t' }, credit_window: 50 })
    const inbox = new Inbox(receiver)
    const sender = await openSender(c, { target: { address: 'split/t' } })
    const sent = Array.from({ length: 40 }, (_, i) => (i % 3 === 1 ? `${i}:`.padEnd(1500 + i, 'x') : `${i}`))
    for (const text of sent) sender.send({ body: rhea.message.data_section(Buffer.from(text)) })
    const all = await inbox.until(sent.length)
    expect(all.map(body)).toEqual(sent)
  })

  it("an unsettled receiver's accepts settle the core's deliveries: far more than the window arrive", async () => {
    const c = await s.client()
    const receiver = await openReceiver(c, { source: { address: 'settle/t' }, credit_window: 100 })
    const inbox = new Inbox(receiver)
    const sender = await openSender(c, { target: { address: 'settle/t' } })
    let accepted = 0
    sender.on('accepted', () => accepted++)
    for (let i = 0; i < 300; i++) sender.send({ body: rhea.message.data_section(Buffer.from(`m${i}`)) })
    const all = await inbox.until(300)
    expect(await sendAndSettle(sender, { body: 'last' })).toMatchObject({ outcome: 'accepted' })
    expect(accepted).toBe(301)
    expect(all.slice(0, 300).map(body)).toEqual(Array.from({ length: 300 }, (_, i) => `m${i}`))
  })

  it("a receiver in rcv-settle-mode second (its outcome first, settled after ours) settles the core's deliveries through rhea: far more than the window arrive", async () => {
    const c = await s.client()
    const receiver = await openReceiver(c, { source: { address: 'second/t' }, credit_window: 10, rcv_settle_mode: 1 })
    const inbox = new Inbox(receiver)
    const sender = await openSender(c, { target: { address: 'second/t' } })
    for (let i = 0; i < 100; i++) sender.send({ body: rhea.message.data_section(Buffer.from(`r${i}`)) })
    const all = await inbox.until(100)
    expect(all.map(body)).toEqual(Array.from({ length: 100 }, (_, i) => `r${i}`))
  })

  it('a pre-settled receiver gets more than rhea keeps of a session (2048 deliveries): settled ones are dropped', async () => {
    const c = await s.client()
    const receiver = await openReceiver(c, { source: { address: 'presettled/t' }, credit_window: 500, snd_settle_mode: 1 })
    const inbox = new Inbox(receiver)
    let settledOnArrival = 0
    receiver.on('message', (context: EventContext) => {
      if (context.delivery?.remote_settled === true) settledOnArrival++
    })
    const sender = await openSender(c, { target: { address: 'presettled/t' }, snd_settle_mode: 1 })
    const count = 3000
    let next = 0
    const pump = (): void => {
      while (next < count && sender.sendable()) sender.send({ body: rhea.message.data_section(Buffer.from(`p${next++}`)) })
    }
    sender.on('sendable', pump)
    pump()
    const all = await inbox.until(count)
    expect(all.map(body)).toEqual(Array.from({ length: count }, (_, i) => `p${i}`))
    expect(settledOnArrival).toBe(count)
  })
})
