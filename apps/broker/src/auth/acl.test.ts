import type { ClientIdentity } from '@fluxmq/core'
import { describe, expect, it } from 'vitest'
import { AclAuthorizer, AclFileError, parseAcl } from './acl.js'

const ACL = `
# anonymous clients
topic read public/#

user alice
topic readwrite sensors/#
topic deny sensors/secret
topic write commands/lamp

user bob
topic sensors/+/temp

pattern readwrite devices/%c/#
pattern read users/%u/inbox
pattern deny devices/%c/firmware
`

const authorizer = new AclAuthorizer(parseAcl(ACL, 'acl'))
const client = (clientId: string, username?: string): ClientIdentity => ({ clientId, username, protocol: 'mqtt5' })
const anonymous = client('anon-1')
const alice = client('a1', 'alice')
const bob = client('b1', 'bob')

describe('parseAcl', () => {
  it('reads anonymous, per-user and pattern rules; access defaults to readwrite', () => {
    const rules = parseAcl(ACL, 'acl')
    expect(rules.anonymous).toEqual([{ access: 'read', filter: 'public/#' }])
    expect(rules.users.get('bob')).toEqual([{ access: 'readwrite', filter: 'sensors/+/temp' }])
    expect(rules.patterns).toHaveLength(3)
  })

  it('keeps spaces inside a topic filter', () => {
    expect(parseAcl('topic read my topic/#', 'acl').anonymous).toEqual([{ access: 'read', filter: 'my topic/#' }])
  })

  it.each([
    ['bogus a/b', 1],
    ['user', 1],
    ['\ntopic read', 2],
    ['topic read a/#/b', 1],
  ])('refuses %j naming line %i', (text, line) => {
    try {
      parseAcl(text, '/etc/acl')
      expect.unreachable()
    } catch (error) {
      expect(error).toBeInstanceOf(AclFileError)
      expect((error as AclFileError).message.startsWith(`/etc/acl:${line}: `)).toBe(true)
    }
  })
})

describe('AclAuthorizer', () => {
  it('grants anonymous clients only the rules before the first user line', () => {
    expect(authorizer.canSubscribe(anonymous, 'public/news')).toBe(true)
    expect(authorizer.canPublish(anonymous, 'public/news')).toBe(false)
    expect(authorizer.canSubscribe(anonymous, 'sensors/#')).toBe(false)
  })

  it('grants a user their own rules and refuses everything else', () => {
    expect(authorizer.canPublish(alice, 'sensors/kitchen/temp')).toBe(true)
    expect(authorizer.canPublish(alice, 'commands/lamp')).toBe(true)
    expect(authorizer.canSubscribe(alice, 'commands/lamp')).toBe(false)
    expect(authorizer.canSubscribe(alice, 'public/news')).toBe(false)
    expect(authorizer.canPublish(bob, 'sensors/kitchen/temp')).toBe(true)
    expect(authorizer.canPublish(bob, 'sensors/kitchen/humidity')).toBe(false)
  })

  it('lets deny beat a grant', () => {
    expect(authorizer.canPublish(alice, 'sensors/secret')).toBe(false)
    expect(authorizer.canSubscribe(alice, 'sensors/secret')).toBe(false)
  })

  it('refuses a subscription that could reach a denied topic, allows one that cannot', () => {
    expect(authorizer.canSubscribe(alice, 'sensors/#')).toBe(false)
    expect(authorizer.canSubscribe(alice, 'sensors/+')).toBe(false)
    expect(authorizer.canSubscribe(alice, 'sensors/+/temp')).toBe(true)
  })

  it('needs read access to every topic a subscription filter can match', () => {
    expect(authorizer.canSubscribe(bob, 'sensors/+/temp')).toBe(true)
    expect(authorizer.canSubscribe(bob, 'sensors/kitchen/temp')).toBe(true)
    expect(authorizer.canSubscribe(bob, 'sensors/#')).toBe(false)
  })

  it('checks the inner filter of a shared subscription [MQTT-4.8.2-1]', () => {
    expect(authorizer.canSubscribe(bob, '$share/g/sensors/+/temp')).toBe(true)
    expect(authorizer.canSubscribe(bob, '$share/g/sensors/#')).toBe(false)
  })

  it('fills %c and %u into patterns', () => {
    expect(authorizer.canPublish(alice, 'devices/a1/state')).toBe(true)
    expect(authorizer.canPublish(alice, 'devices/b1/state')).toBe(false)
    expect(authorizer.canSubscribe(bob, 'users/bob/inbox')).toBe(true)
    expect(authorizer.canSubscribe(bob, 'users/alice/inbox')).toBe(false)
    expect(authorizer.canPublish(alice, 'devices/a1/firmware')).toBe(false)
  })

  it('never lets a client id or username with wildcards or "/" widen a pattern', () => {
    expect(authorizer.canSubscribe(client('+'), 'devices/+/#')).toBe(false)
    expect(authorizer.canSubscribe(client('#'), 'devices/#')).toBe(false)
    expect(authorizer.canPublish(client('x/y'), 'devices/x/y/state')).toBe(false)
    expect(authorizer.canSubscribe(client('c', '+'), 'users/+/inbox')).toBe(false)
  })

  it('widens a deny pattern whose value is unsafe instead of dropping it', () => {
    const strict = new AclAuthorizer(parseAcl('topic readwrite devices/#\npattern deny devices/%c/firmware', 'acl'))
    expect(strict.canPublish(client('x/y'), 'devices/other/firmware')).toBe(false)
    expect(strict.canPublish(client('x/y'), 'devices/other/state')).toBe(true)
  })

  it('never matches "$" topics with a first-level wildcard rule [MQTT-4.7.2-1]', () => {
    const everything = new AclAuthorizer(parseAcl('topic readwrite #', 'acl'))
    expect(everything.canSubscribe(anonymous, 'a/b')).toBe(true)
    expect(everything.canSubscribe(anonymous, '$SYS/#')).toBe(false)
    expect(everything.canPublish(anonymous, '$SYS/broker/uptime')).toBe(false)
  })
})
