import { ReasonCode } from '@fluxmq/mqtt-codec'
import { Refusal, type Authenticator } from '@fluxmq/core'
import { describe, expect, it } from 'vitest'
import { testScope } from '../test-support/harness.js'

const s = testScope()

describe('CONNECT', () => {
  it('[MQTT-3.1.0-1] a first packet other than CONNECT closes the connection', async () => {
    const { port } = await s.start()
    const r = await s.rawSocket(port, 5)
    r.sendBytes([0xc0, 0x00])
    await r.closedByServer()
    expect(r.packets).toEqual([])
  })

  it('[MQTT-3.1.0-2] a second CONNECT is a protocol error: DISCONNECT 0x82 (v5)', async () => {
    const { port } = await s.start()
    const { raw: r, connack } = await s.connect(port, 5)
    expect(connack).toMatchObject({ cmd: 'connack', reasonCode: 0 })
    r.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'again', clean: true, keepalive: 0 })
    expect(await r.next()).toMatchObject({ cmd: 'disconnect', reasonCode: ReasonCode.ProtocolError })
    await r.closedByServer()
  })

  it('[MQTT-3.1.2-24] a reason string that would exceed the client Maximum Packet Size is left out', async () => {
    const { port } = await s.start()
    const { raw: r } = await s.connect(port, 5, { properties: { maximumPacketSize: 20 } })
    r.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'again', clean: true, keepalive: 0 })
    const disconnect = await r.next()
    expect(disconnect).toMatchObject({ cmd: 'disconnect', reasonCode: ReasonCode.ProtocolError })
    expect((disconnect as { properties?: { reasonString?: string } }).properties?.reasonString).toBeUndefined()
  })

  it('[MQTT-3.1.0-2] a second CONNECT on 3.1.1 just closes the connection', async () => {
    const { port } = await s.start()
    const { raw: r } = await s.connect(port, 4)
    r.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'again', clean: true, keepalive: 0 })
    await r.closedByServer()
    expect(r.packets).toEqual([])
  })

  it('[MQTT-3.1.3-8] 3.1.1 empty client id with clean_session=0 gets CONNACK 0x02', async () => {
    const { port } = await s.start()
    const r = await s.rawSocket(port, 4)
    // CONNECT 3.1.1, clean_session=0, keep alive 0, zero-length client id (mqtt-packet refuses to encode it).
    r.sendBytes([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00])
    const connack = await r.next()
    expect(connack).toMatchObject({ cmd: 'connack', returnCode: 2, sessionPresent: false })
    await r.closedByServer()
  })

  it('[MQTT-3.1.3-6] 3.1.1 empty client id with clean_session=1 is accepted', async () => {
    const { port } = await s.start()
    const { connack } = await s.connect(port, 4, { clientId: '', clean: true })
    expect(connack).toMatchObject({ cmd: 'connack', returnCode: 0 })
  })

  it('[MQTT-3.1.3-6] [MQTT-3.2.2-16] v5 empty client id gets an Assigned Client Identifier', async () => {
    const { port } = await s.start()
    const { connack } = await s.connect(port, 5, { clientId: '' })
    expect(connack).toMatchObject({ reasonCode: 0, properties: { assignedClientIdentifier: expect.stringMatching(/^fluxmq-/) } })
  })

  it('[MQTT-3.2.2-9] CONNACK advertises Receive Maximum, Maximum QoS, Retain Available, Maximum Packet Size, Topic Alias Maximum and feature flags', async () => {
    const { port } = await s.start({ receiveMaximum: 10, maxQos: 1, retainAvailable: false, maxPacketSize: 5000, topicAliasMaximum: 7, wildcardAvailable: false, sharedAvailable: false, subscriptionIdsAvailable: false })
    const { connack } = await s.connect(port, 5)
    expect(connack).toMatchObject({
      cmd: 'connack',
      reasonCode: 0,
      properties: {
        receiveMaximum: 10,
        maximumQoS: 1,
        retainAvailable: false,
        maximumPacketSize: 5000,
        topicAliasMaximum: 7,
        wildcardSubscriptionAvailable: false,
        sharedSubscriptionAvailable: false,
        subscriptionIdentifiersAvailable: false,
      },
    })
  })

  it('[MQTT-3.2.2-21] server_keep_alive is a maximum: a v5 client asking 120 (or 0) is told 60, one asking 5 keeps 5', async () => {
    const { port } = await s.start({ serverKeepAlive: 60 })
    expect((await s.connect(port, 5, { keepalive: 120 })).connack).toMatchObject({ properties: { serverKeepAlive: 60 } })
    expect((await s.connect(port, 5, { keepalive: 0 })).connack).toMatchObject({ properties: { serverKeepAlive: 60 } })
    const kept = (await s.connect(port, 5, { keepalive: 5 })).connack
    expect(kept).toMatchObject({ cmd: 'connack', reasonCode: 0 })
    expect(kept).not.toHaveProperty('properties.serverKeepAlive')
  })

  it('server_keep_alive: a 3.1.1 client asking for more is refused with return code 2, as Mosquitto does; one within it connects', async () => {
    const { port } = await s.start({ serverKeepAlive: 60 })
    expect((await s.connect(port, 4, { keepalive: 120 })).connack).toMatchObject({ returnCode: 2 })
    expect((await s.connect(port, 4, { keepalive: 30 })).connack).toMatchObject({ returnCode: 0 })
  })

  it('Session Expiry Interval is reported when the broker caps it (max_expiry)', async () => {
    const { port } = await s.start({}, { maxExpiry: 60 })
    const { connack } = await s.connect(port, 5, { properties: { sessionExpiryInterval: 3600 } })
    expect(connack).toMatchObject({ properties: { sessionExpiryInterval: 60 } })
  })

  it('[MQTT-3.1.2-2] an unsupported protocol level gets CONNACK 0x01 and is closed', async () => {
    const { port } = await s.start()
    const r = await s.rawSocket(port, 4)
    // CONNECT, protocol name MQTT, level 9.
    r.sendBytes([0x10, 0x0d, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x09, 0x02, 0x00, 0x00, 0x00, 0x01, 0x61])
    expect(await r.next()).toMatchObject({ cmd: 'connack', returnCode: 1 })
    await r.closedByServer()
  })

  it('[MQTT-4.13.1-1] a malformed MQTT 5 CONNECT gets CONNACK 0x81 and is closed; a malformed 3.1.1 CONNECT is just closed', async () => {
    const { port, logger } = await s.start()
    const r5 = await s.rawSocket(port, 5)
    // Level 5, property section announcing 3 bytes and starting with the unknown property 0x99.
    r5.sendBytes([0x10, 0x0e, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x05, 0x02, 0x00, 0x00, 0x03, 0x99, 0x00, 0x00, 0x01, 0x61])
    expect(await r5.next()).toMatchObject({ cmd: 'connack', reasonCode: ReasonCode.MalformedPacket, sessionPresent: false })
    await r5.closedByServer()
    const r4 = await s.rawSocket(port, 4)
    // Level 4, client id length 2 with invalid UTF-8 (0xC3 0x28) [MQTT-1.5.4-1].
    r4.sendBytes([0x10, 0x0e, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x00, 0x00, 0x02, 0xc3, 0x28])
    await r4.closedByServer()
    expect(r4.packets).toEqual([])
    expect(logger.lines.filter((l) => l.level === 'warn' && l.obj['reasonCode'] === ReasonCode.MalformedPacket)).toHaveLength(2)
  })

  it('allowAnonymous=false refuses a CONNECT without user name: v5 0x87, 3.1.1 return code 5', async () => {
    const { port } = await s.start({ allowAnonymous: false })
    const v5 = await s.connect(port, 5)
    expect(v5.connack).toMatchObject({ cmd: 'connack', reasonCode: ReasonCode.NotAuthorized, sessionPresent: false })
    await v5.raw.closedByServer()
    const v4 = await s.connect(port, 4)
    expect(v4.connack).toMatchObject({ cmd: 'connack', returnCode: 5 })
    await v4.raw.closedByServer()
    const named = await s.connect(port, 4, { username: 'alice', password: Buffer.from('pw') })
    expect(named.connack).toMatchObject({ returnCode: 0 })
  })

  it('the authenticator decides: bad password is 0x86 (3.1.1 return code 4), the identity reaches the core', async () => {
    const seen: unknown[] = []
    const authenticator: Authenticator = {
      authenticate: async (req) => {
        seen.push({ clientId: req.clientId, username: req.username, password: req.password?.toString(), step: req.step, protocol: req.protocol })
        return req.password?.toString() === 'right' ? { outcome: 'success' } : { outcome: 'failure', reason: Refusal.BadCredentials, reasonString: 'nope' }
      },
    }
    const { port } = await s.start({ authenticator, allowAnonymous: false })
    const bad5 = await s.connect(port, 5, { clientId: 'c1', username: 'u', password: Buffer.from('wrong') })
    expect(bad5.connack).toMatchObject({ reasonCode: ReasonCode.BadUserNameOrPassword, properties: { reasonString: 'nope' } })
    const bad4 = await s.connect(port, 4, { clientId: 'c2', username: 'u', password: Buffer.from('wrong') })
    expect(bad4.connack).toMatchObject({ returnCode: 4 })
    const good = await s.connect(port, 4, { clientId: 'c3', username: 'u', password: Buffer.from('right') })
    expect(good.connack).toMatchObject({ returnCode: 0 })
    expect(seen).toEqual([
      { clientId: 'c1', username: 'u', password: 'wrong', step: 0, protocol: 'mqtt5' },
      { clientId: 'c2', username: 'u', password: 'wrong', step: 0, protocol: 'mqtt3' },
      { clientId: 'c3', username: 'u', password: 'right', step: 0, protocol: 'mqtt3' },
    ])
  })

  it('[MQTT-4.12.0-1] an Authentication Method without an authenticator gets CONNACK 0x8C', async () => {
    const { port } = await s.start()
    const { raw: r, connack } = await s.connect(port, 5, { properties: { authenticationMethod: 'SCRAM-SHA-1' } })
    expect(connack).toMatchObject({ reasonCode: ReasonCode.BadAuthenticationMethod })
    await r.closedByServer()
  })

  /** A challenge/response method: the server asks for "ping", the client must answer "pong". */
  const challenge: Authenticator = {
    authenticate: async (req) => {
      if (req.method !== 'challenge') return { outcome: 'failure', reason: Refusal.BadAuthenticationMethod }
      if (req.step === 0) return { outcome: 'continue', data: Buffer.from('ping') }
      return req.data?.toString() === 'pong' ? { outcome: 'success', data: Buffer.from('welcome') } : { outcome: 'failure', reason: Refusal.NotAuthorized }
    },
  }

  const auth = (reasonCode: number, data?: string, method = 'challenge') =>
    ({ cmd: 'auth', reasonCode, properties: { authenticationMethod: method, ...(data === undefined ? {} : { authenticationData: Buffer.from(data) }) } }) as const

  /** A raw client whose CONNECT asks for the challenge method, and the server's first AUTH. */
  const challenged = async (clientId = 'enh') => {
    const r = await s.rawSocket(s.t.port, 5)
    r.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId, clean: true, keepalive: 0, properties: { authenticationMethod: 'challenge' } })
    return { r, challenge: await r.next() }
  }

  /** A raw client through the challenge exchange, and the CONNACK that ends it. */
  const authenticated = async (clientId = 'enh') => {
    const { r } = await challenged(clientId)
    r.send(auth(0x18, 'pong'))
    return { r, connack: await r.next() }
  }

  it('[MQTT-4.12.0-2] [MQTT-4.12.0-3] [MQTT-4.12.0-5] enhanced authentication: AUTH 0x18 steps, then CONNACK with the method', async () => {
    await s.start({ authenticator: challenge })
    const { r, challenge: first } = await challenged()
    expect(first).toMatchObject({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'challenge', authenticationData: Buffer.from('ping') } })
    r.send(auth(0x18, 'pong'))
    expect(await r.next()).toMatchObject({ cmd: 'connack', reasonCode: 0, properties: { authenticationMethod: 'challenge', authenticationData: Buffer.from('welcome') } })
  })

  it('[MQTT-4.12.0-4] a failed enhanced authentication step gets a CONNACK >= 0x80', async () => {
    await s.start({ authenticator: challenge })
    const { r } = await challenged()
    r.send(auth(0x18, 'wrong'))
    expect(await r.next()).toMatchObject({ cmd: 'connack', reasonCode: ReasonCode.NotAuthorized })
    await r.closedByServer()
  })

  it('[MQTT-4.12.0-5] an AUTH with another method during the exchange is a protocol error', async () => {
    await s.start({ authenticator: challenge })
    const { r } = await challenged()
    r.send(auth(0x18, 'pong', 'other'))
    expect(await r.next()).toMatchObject({ cmd: 'connack', reasonCode: ReasonCode.ProtocolError })
    await r.closedByServer()
  })

  it('[MQTT-4.12.1-1] re-authentication with AUTH 0x19 runs the exchange again and ends with AUTH 0x00', async () => {
    await s.start({ authenticator: challenge })
    const { r } = await authenticated()
    r.send(auth(0x19))
    expect(await r.next()).toMatchObject({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationData: Buffer.from('ping') } })
    r.send(auth(0x18, 'pong'))
    expect(await r.next()).toMatchObject({ cmd: 'auth', reasonCode: 0, properties: { authenticationMethod: 'challenge' } })
  })

  it('[MQTT-4.12.1-2] a failed re-authentication gets DISCONNECT with the reason', async () => {
    await s.start({ authenticator: challenge })
    const { r } = await authenticated()
    r.send(auth(0x19))
    await r.next()
    r.send(auth(0x18, 'bad'))
    expect(await r.next()).toMatchObject({ cmd: 'disconnect', reasonCode: ReasonCode.NotAuthorized })
    await r.closedByServer()
  })

  it('[MQTT-4.12.0-7] AUTH without an Authentication Method in CONNECT is a protocol error', async () => {
    const { port } = await s.start()
    const { raw: r } = await s.connect(port, 5)
    r.send(auth(0x19, undefined, 'x'))
    expect(await r.next()).toMatchObject({ cmd: 'disconnect', reasonCode: ReasonCode.ProtocolError })
  })

  it('§3.15.2.1 [MQTT-4.12.0-7] an AUTH with Remaining Length 0 (reason 0x00) without an Authentication Method in CONNECT: DISCONNECT 0x82, not 0x81', async () => {
    const { port } = await s.start()
    const { raw: r } = await s.connect(port, 5)
    r.sendBytes([0xf0, 0x00])
    expect(await r.next()).toMatchObject({ cmd: 'disconnect', reasonCode: ReasonCode.ProtocolError })
    await r.closedByServer()
  })

  it('§3.15.2.1 an AUTH with Remaining Length 0 during enhanced authentication is a protocol error (0x00 is only sent by a Server): CONNACK 0x82, after CONNACK DISCONNECT 0x82', async () => {
    await s.start({ authenticator: challenge })
    const { r: during, challenge: first } = await challenged('enh-during')
    expect(first).toMatchObject({ cmd: 'auth', reasonCode: 0x18 })
    during.sendBytes([0xf0, 0x00])
    expect(await during.next()).toMatchObject({ cmd: 'connack', reasonCode: ReasonCode.ProtocolError })
    await during.closedByServer()

    const { r: after, connack } = await authenticated('enh-after')
    expect(connack).toMatchObject({ cmd: 'connack', reasonCode: 0 })
    after.sendBytes([0xf0, 0x00])
    expect(await after.next()).toMatchObject({ cmd: 'disconnect', reasonCode: ReasonCode.ProtocolError })
    await after.closedByServer()
  })

  it('[MQTT-3.1.4-6] packets sent before CONNACK wait for authentication and are dropped when it fails', async () => {
    let release: (ok: boolean) => void = () => {}
    const authenticator: Authenticator = {
      authenticate: (req) =>
        new Promise((resolve) => {
          release = (ok) => resolve(ok ? { outcome: 'success' } : { outcome: 'failure', reason: Refusal.NotAuthorized })
          void req
        }),
    }
    const { port, broker } = await s.start({ authenticator })
    const early = await s.rawSocket(port, 5)
    early.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'early', clean: true, keepalive: 0 })
    early.send({ cmd: 'publish', topic: 'early/t', payload: Buffer.from('x'), qos: 0, retain: true, dup: false })
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(broker.stats.retainedCurrent).toBe(0)
    release(false)
    expect(await early.next()).toMatchObject({ cmd: 'connack', reasonCode: ReasonCode.NotAuthorized })
    await early.closedByServer()
    expect(broker.stats.retainedCurrent).toBe(0)

    const accepted = await s.rawSocket(port, 5)
    accepted.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'accepted', clean: true, keepalive: 0 })
    accepted.send({ cmd: 'publish', topic: 'early/t', payload: Buffer.from('x'), qos: 0, retain: true, dup: false })
    accepted.send({ cmd: 'pingreq' })
    await new Promise((resolve) => setTimeout(resolve, 20))
    release(true)
    expect(await accepted.next()).toMatchObject({ cmd: 'connack', reasonCode: 0 })
    expect(await accepted.next()).toMatchObject({ cmd: 'pingresp' })
    expect(broker.stats.retainedCurrent).toBe(1)
  })

  it('connection rate exceeded: the CONNECT is answered with 0x9F (3.1.1: 0x03)', async () => {
    const t = await s.start()
    const address = await t.server.listenTcp({ host: '127.0.0.1', port: 0, connectionRate: 1 })
    const first = await s.connect(address.port, 5)
    expect(first.connack).toMatchObject({ reasonCode: 0 })
    const second = await s.connect(address.port, 5)
    expect(second.connack).toMatchObject({ reasonCode: ReasonCode.ConnectionRateExceeded })
    const third = await s.connect(address.port, 4)
    expect(third.connack).toMatchObject({ returnCode: 3 })
  })

  it('maxConnections: sockets over the limit are closed at once', async () => {
    const t = await s.start()
    const address = await t.server.listenTcp({ host: '127.0.0.1', port: 0, maxConnections: 1 })
    await s.connect(address.port, 5)
    const over = await s.rawSocket(address.port, 5)
    await over.closedByServer()
  })

  it('[MQTT-3.2.2-12] a will QoS above Maximum QoS gets CONNACK 0x9B', async () => {
    const { port } = await s.start({ maxQos: 1 })
    const { connack } = await s.connect(port, 5, { will: { topic: 'w', payload: Buffer.from('x'), qos: 2, retain: false } })
    expect(connack).toMatchObject({ reasonCode: ReasonCode.QoSNotSupported })
  })

  it('[MQTT-3.2.2-13] a retained will without Retain Available gets CONNACK 0x9A', async () => {
    const { port } = await s.start({ retainAvailable: false })
    const { connack } = await s.connect(port, 5, { will: { topic: 'w', payload: Buffer.from('x'), qos: 0, retain: true } })
    expect(connack).toMatchObject({ reasonCode: ReasonCode.RetainNotSupported })
  })

  it('[MQTT-3.3.2-2] a will topic with wildcards gets CONNACK 0x90', async () => {
    const { port } = await s.start()
    const { connack } = await s.connect(port, 5, { will: { topic: 'w/#', payload: Buffer.from('x'), qos: 0, retain: false } })
    expect(connack).toMatchObject({ reasonCode: ReasonCode.TopicNameInvalid })
  })

  it('[MQTT-3.1.4-3] session takeover: the old v5 connection gets DISCONNECT 0x8E, the old 3.1.1 one is closed', async () => {
    const { port } = await s.start()
    const { raw: old5 } = await s.connect(port, 5, { clientId: 'same5' })
    await s.client({ protocolVersion: 5, clientId: 'same5' })
    expect(await old5.next()).toMatchObject({ cmd: 'disconnect', reasonCode: ReasonCode.SessionTakenOver })
    await old5.closedByServer()
    const { raw: old4 } = await s.connect(port, 4, { clientId: 'same4' })
    await s.client({ protocolVersion: 4, clientId: 'same4' })
    await old4.closedByServer()
    expect(old4.packets).toEqual([])
  })

  it('[MQTT-3.2.2-2] [MQTT-3.2.2-3] a persistent session is present on reconnect and gets what was queued', async () => {
    const { port } = await s.start()
    const persistent = { clientId: 'persist', clean: false, properties: { sessionExpiryInterval: 300 } }
    const { raw: first, connack: firstConnack } = await s.connect(port, 5, persistent)
    expect(firstConnack).toMatchObject({ sessionPresent: false })
    first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'persist/t', qos: 1 }] })
    expect(await first.next()).toMatchObject({ cmd: 'suback', granted: [1] })
    first.close()
    await first.closedByServer()
    const pub = await s.client({ protocolVersion: 5 })
    await pub.publishAsync('persist/t', 'queued', { qos: 1 })
    const { raw: again, connack } = await s.connect(port, 5, persistent)
    expect(connack).toMatchObject({ sessionPresent: true })
    expect(await again.next()).toMatchObject({ cmd: 'publish', topic: 'persist/t', qos: 1, payload: Buffer.from('queued') })
  })
})
