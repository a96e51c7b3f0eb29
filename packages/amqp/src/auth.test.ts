import { Refusal } from '@fluxmq/core'
import type { AuthRequest, AuthResult, Authenticator, Authorizer, ClientIdentity } from '@fluxmq/core'
import { describe, expect, it } from 'vitest'
import { Inbox, openReceiver, openSender, sendAndSettle, testScope } from './test-support/harness.js'

/** alice/secret only; records what the broker asked. */
class OneUser implements Authenticator {
  readonly requests: AuthRequest[] = []
  async authenticate(request: AuthRequest): Promise<AuthResult> {
    this.requests.push(request)
    if (request.username === 'alice' && request.password?.toString() === 'secret') return { outcome: 'success', username: 'alice' }
    return { outcome: 'failure', reason: Refusal.BadCredentials, reasonString: 'bad username or password' }
  }
}

/** alice may write and read `alice/#` only; anonymous clients nothing. */
const aclOfAlice: Authorizer = {
  canPublish: (client: ClientIdentity, topic: string) => client.username === 'alice' && topic.startsWith('alice/'),
  canSubscribe: (client: ClientIdentity, filter: string) => client.username === 'alice' && filter.startsWith('alice/'),
}

const s = testScope()

describe('SASL', () => {
  it('PLAIN is checked against the Authenticator: good credentials open, bad ones get amqp:unauthorized-access', async () => {
    const authenticator = new OneUser()
    await s.start({ authenticator, allowAnonymous: false })
    const c = await s.client({ username: 'alice', password: 'secret' })
    expect(c.is_open()).toBe(true)
    expect(authenticator.requests[0]).toMatchObject({ username: 'alice', protocol: 'amqp', step: 0 })
    await expect(s.client({ username: 'alice', password: 'wrong' })).rejects.toMatchObject({ condition: 'amqp:unauthorized-access' })
    expect(s.t.logger.lines.some((l) => l.obj.code === 'FLUXMQ_ERR_AMQP_LOGIN' && l.obj.username === 'alice')).toBe(true)
  })

  it('ANONYMOUS and no SASL at all are refused unless anonymous clients are allowed', async () => {
    await s.start({ authenticator: new OneUser(), allowAnonymous: false })
    await expect(s.client({ username: undefined })).rejects.toBeDefined()
    await expect(s.client({ username: 'guest' })).rejects.toMatchObject({ condition: 'amqp:unauthorized-access' })
  })

  it('anonymous clients are served when allowed, with and without a SASL layer', async () => {
    await s.start({ allowAnonymous: true })
    expect((await s.client()).is_open()).toBe(true)
    expect((await s.client({ username: 'guest' })).is_open()).toBe(true)
  })
})

describe('ACL on links', () => {
  it('a receiver on a denied filter is detached with amqp:unauthorized-access', async () => {
    await s.start({ authenticator: new OneUser(), allowAnonymous: false }, { authorizer: aclOfAlice })
    const c = await s.client({ username: 'alice', password: 'secret' })
    await expect(openReceiver(c, { source: { address: 'bob/#' } })).rejects.toMatchObject({ condition: 'amqp:unauthorized-access' })
    const ok = await openReceiver(c, { source: { address: 'alice/#' }, credit_window: 10 })
    const inbox = new Inbox(ok)
    const sender = await openSender(c, { target: { address: 'alice/x' } })
    expect((await sendAndSettle(sender, { body: 'x' })).outcome).toBe('accepted')
    await inbox.until(1)
  })

  it('a transfer to a denied topic is rejected with amqp:unauthorized-access and its link detached; other links go on', async () => {
    await s.start({ authenticator: new OneUser(), allowAnonymous: false }, { authorizer: aclOfAlice })
    const c = await s.client({ username: 'alice', password: 'secret' })
    const denied = await openSender(c, { target: { address: 'bob/x' } })
    const closed = new Promise((resolve) => denied.once('sender_close', () => resolve(denied.error)))
    const { outcome, error } = await sendAndSettle(denied, { body: 'x' })
    expect(outcome).toBe('rejected')
    expect(error).toMatchObject({ condition: 'amqp:unauthorized-access' })
    expect(await closed).toMatchObject({ condition: 'amqp:unauthorized-access' })
    const allowed = await openSender(c, { target: { address: 'alice/y' } })
    expect((await sendAndSettle(allowed, { body: 'y' })).outcome).toBe('accepted')
  })
})
