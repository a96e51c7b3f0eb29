import rhea from 'rhea'
import { beforeEach, describe, expect, it } from 'vitest'
import { Inbox, openReceiver, openSender, sendAndSettle, testScope } from './test-support/harness.js'

const s = testScope()
beforeEach(async () => {
  await s.start()
})

describe('AMQP senders and receivers on one core', () => {
  it('an unsettled sender to a topic reaches a receiver on a wildcard filter, accepted', async () => {
    const c = await s.client()
    const receiver = await openReceiver(c, { source: { address: 'a/+/c' }, credit_window: 10 })
    const inbox = new Inbox(receiver)
    const sender = await openSender(c, { target: { address: 'a/b/c' } })
    const { outcome } = await sendAndSettle(sender, { body: rhea.message.data_section(Buffer.from('hello')) })
    expect(outcome).toBe('accepted')
    const [m] = await inbox.until(1)
    expect(Buffer.from(m?.body.content as Buffer).toString()).toBe('hello')
  })

  it('a sender and a receiver of the same name are two links (a link name is unique per direction only)', async () => {
    const c = await s.client({ container_id: 'twins' })
    const receiver = await openReceiver(c, { name: 'same', source: { address: 'twin/t' }, credit_window: 10 })
    const inbox = new Inbox(receiver)
    const sender = await openSender(c, { name: 'same', target: { address: 'twin/t' } })
    expect((await sendAndSettle(sender, { body: 'x' })).outcome).toBe('accepted')
    await inbox.until(1)
    expect(s.t.server.connectionList()[0]?.links.map((l) => l.clientId).sort()).toEqual(['twins/in/same', 'twins/out/same'])
  })

  it('a receiver without credit gets nothing and loses nothing: everything arrives once it grants credit', async () => {
    const c = await s.client()
    const receiver = await openReceiver(c, { source: { address: 'credit/t' }, credit_window: 0, autoaccept: true })
    const inbox = new Inbox(receiver)
    const sender = await openSender(c, { target: { address: 'credit/t' } })
    for (let i = 0; i < 20; i++) expect((await sendAndSettle(sender, { body: `m${i}` })).outcome).toBe('accepted')
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(inbox.messages).toHaveLength(0)
    receiver.add_credit(5)
    await inbox.until(5)
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(inbox.messages).toHaveLength(5)
    receiver.add_credit(100)
    const all = await inbox.until(20)
    expect(all.map((m) => Buffer.from(m.body.content as Buffer).toString())).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`))
  })

  it('an unknown address form detaches the link with amqp:not-found; the connection goes on', async () => {
    const c = await s.client()
    await expect(openReceiver(c, { source: { address: '$weird/x' } })).rejects.toMatchObject({ condition: 'amqp:not-found' })
    await expect(openSender(c, { target: { address: 'a/+' } })).rejects.toMatchObject({ condition: 'amqp:invalid-field' })
    const receiver = await openReceiver(c, { source: { address: 'still/ok' } })
    const inbox = new Inbox(receiver)
    const sender = await openSender(c, { target: { address: 'still/ok' } })
    sender.send({ body: 'x' })
    await inbox.until(1)
  })
})
