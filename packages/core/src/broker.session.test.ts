import { describe, expect, it } from 'vitest'
import { Broker } from './broker.js'
import { BrokerError } from './errors.js'
import { MemoryStorage } from './memory-storage.js'
import { Refusal } from './refusal.js'
import { FakeClock, RecordingLink, connect, createWorld, defaults, silentLogger } from './test-support/harness.js'

describe('Broker sessions', () => {
  it('[MQTT-3.2.2-2] [MQTT-3.2.2-3] Session Present reflects a resumed session', async () => {
    const w = await createWorld()
    const first = await connect(w, 'c', { cleanStart: false, expiry: 60 })
    expect(first.sessionPresent).toBe(false)
    first.subscribe('t', 1)
    first.disconnect()
    const again = await connect(w, 'c', { cleanStart: false, expiry: 60 })
    expect(again.sessionPresent).toBe(true)
    const pub = await connect(w, 'p')
    pub.publish('t', 'kept', 1)
    expect(again.link.take().map((r) => r.payload)).toEqual(['kept'])
  })

  it('[MQTT-3.1.2-4] Clean Start discards the existing session', async () => {
    const w = await createWorld()
    const first = await connect(w, 'c', { cleanStart: false, expiry: 60 })
    first.subscribe('t', 1)
    first.disconnect()
    const pub = await connect(w, 'p')
    pub.publish('t', 'queued', 1)
    expect(w.broker.stats.offlineQueuedCurrent).toBe(1)
    const fresh = await connect(w, 'c', { cleanStart: true, expiry: 60 })
    expect(fresh.sessionPresent).toBe(false)
    expect(fresh.link.received).toEqual([])
    expect(w.broker.stats.offlineQueuedCurrent).toBe(0)
    expect(w.broker.stats.subscriptionsCurrent).toBe(0)
    expect(pub.publish('t', 'x', 1).reason).toBe('no_subscribers')
  })

  it('[MQTT-3.1.4-3] takeover closes the old connection (session_taken_over) and its handle goes stale', async () => {
    const w = await createWorld()
    const old = await connect(w, 'c', { cleanStart: false, expiry: 60 })
    old.subscribe('t', 1)
    // The adapter reacts to close() by reporting the disconnect at once; it must not touch the new session.
    old.link.onClose = () => old.disconnect(true)
    const next = await connect(w, 'c', { cleanStart: false, expiry: 60 })
    expect(old.link.closed).toBe(Refusal.SessionTakenOver)
    expect(next.sessionPresent).toBe(true)
    expect(old.publish('t', 'late', 1).reason).toBe(Refusal.SessionTakenOver)
    expect(w.broker.subscribe(old.handle, [{ filter: 'z', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }]).codes).toEqual([
      Refusal.Unspecified,
    ])
    expect(w.broker.unsubscribe(old.handle, ['t'])).toEqual([false])
    old.disconnect()
    const pub = await connect(w, 'p')
    pub.publish('t', 'to-new', 1)
    expect(next.link.take().map((r) => r.payload)).toEqual(['to-new'])
    expect(old.link.received).toEqual([])
    expect(w.broker.stats.connectionsCurrent).toBe(2)
  })

  it('[MQTT-3.1.4-3] concurrent connects for one client id are serialized: the later one wins', async () => {
    const w = await createWorld()
    const a = new RecordingLink()
    const b = new RecordingLink()
    const req = { clientId: 'c', protocol: 'mqtt5' as const, cleanStart: true, sessionExpiryInterval: 0, receiveMaximum: 10 }
    const [ra, rb] = await Promise.all([w.broker.connect(req, a), w.broker.connect(req, b)])
    expect(ra.ok && rb.ok).toBe(true)
    expect(a.closed).toBe(Refusal.SessionTakenOver)
    expect(b.closed).toBeUndefined()
    expect(w.broker.stats.sessionsCurrent).toBe(1)
    expect(w.broker.stats.connectionsCurrent).toBe(1)
  })

  it('expiry 0 ends the session when the connection closes', async () => {
    const w = await createWorld()
    const c = await connect(w, 'c', { cleanStart: false, expiry: 0 })
    c.subscribe('t', 1)
    c.disconnect()
    expect(w.broker.stats.sessionsCurrent).toBe(0)
    expect(w.broker.stats.subscriptionsCurrent).toBe(0)
    const again = await connect(w, 'c', { cleanStart: false })
    expect(again.sessionPresent).toBe(false)
  })

  it('a session expires after its interval, is deleted from storage, and is absent on reconnect', async () => {
    const w = await createWorld()
    const c = await connect(w, 'c', { cleanStart: false, expiry: 10 })
    c.subscribe('t', 1)
    c.disconnect()
    w.clock.t += 9_999
    w.broker.tick(w.clock.t)
    expect(w.broker.stats.sessionsCurrent).toBe(1)
    w.clock.t += 1
    w.broker.tick(w.clock.t)
    expect(w.broker.stats.sessionsCurrent).toBe(0)
    expect((await w.storage.open()).sessions).toEqual([])
    expect((await connect(w, 'c', { cleanStart: false, expiry: 10 })).sessionPresent).toBe(false)
  })

  it('a reconnect before expiry cancels the expiry', async () => {
    const w = await createWorld()
    const c = await connect(w, 'c', { cleanStart: false, expiry: 10 })
    c.disconnect()
    w.clock.t += 5_000
    const again = await connect(w, 'c', { cleanStart: false, expiry: 10 })
    w.clock.t += 60_000
    w.broker.tick(w.clock.t)
    expect(w.broker.stats.sessionsCurrent).toBe(1)
    expect(again.sessionPresent).toBe(true)
  })

  it('0xFFFFFFFF never expires; MQTT 3.1.1 clean_session=0 gets session.default_expiry', async () => {
    const w = await createWorld({ defaultExpiry: 100 })
    const forever = await connect(w, 'v5', { cleanStart: false, expiry: 0xffffffff })
    const v3 = await connect(w, 'v3', { cleanStart: false, expiry: 0xffffffff, protocol: 'mqtt3' })
    forever.disconnect()
    v3.disconnect()
    w.clock.t += 100_000
    w.broker.tick(w.clock.t)
    expect(w.broker.stats.sessionsCurrent).toBe(1)
    w.clock.t += 365 * 86_400_000
    w.broker.tick(w.clock.t)
    expect((await connect(w, 'v5', { cleanStart: false, expiry: 0xffffffff })).sessionPresent).toBe(true)
  })

  it('session.max_expiry caps the interval and the connect result reports it', async () => {
    const w = await createWorld({ maxExpiry: 30 })
    const link = new RecordingLink()
    const res = await w.broker.connect(
      { clientId: 'c', protocol: 'mqtt5', cleanStart: true, sessionExpiryInterval: 0xffffffff, receiveMaximum: 10 },
      link,
    )
    expect(res.ok && res.sessionExpiryInterval).toBe(30)
  })

  it('DISCONNECT may change the Session Expiry Interval', async () => {
    const w = await createWorld()
    const c = await connect(w, 'c', { cleanStart: false, expiry: 3600 })
    c.disconnect(false, 0)
    expect(w.broker.stats.sessionsCurrent).toBe(0)
  })

  it('connect before start() is a typed error', async () => {
    const b = new Broker({ ...defaults, clock: new FakeClock(), logger: silentLogger, storage: new MemoryStorage() })
    const req = { clientId: 'c', protocol: 'mqtt5' as const, cleanStart: true, sessionExpiryInterval: 0, receiveMaximum: 10 }
    await expect(b.connect(req, new RecordingLink())).rejects.toMatchObject({ code: 'FLUXMQ_ERR_NOT_STARTED' })
    await expect(b.connect(req, new RecordingLink())).rejects.toBeInstanceOf(BrokerError)
  })

  it('rejects invalid options with FLUXMQ_ERR_INVALID_OPTION', () => {
    const make = () =>
      new Broker({ ...defaults, maxOfflineMessages: -1, clock: new FakeClock(), logger: silentLogger, storage: new MemoryStorage() })
    expect(make).toThrow(/FLUXMQ_ERR_INVALID_OPTION: maxOfflineMessages = -1/)
  })

  it('rejects a receiveMaximum outside 1..65535 (MQTT 5 §3.2.2.3.3)', () => {
    for (const receiveMaximum of [0, 65_536, 1.5]) {
      const make = () => new Broker({ ...defaults, receiveMaximum, clock: new FakeClock(), logger: silentLogger, storage: new MemoryStorage() })
      expect(make).toThrow(`FLUXMQ_ERR_INVALID_OPTION: receiveMaximum = ${receiveMaximum}`)
    }
  })

  it('stop() closes live connections with ServerShuttingDown and refuses new ones', async () => {
    const w = await createWorld()
    const c = await connect(w, 'c', { cleanStart: false, expiry: 60 })
    await w.broker.stop()
    expect(c.link.closed).toBe(Refusal.ServerShuttingDown)
    const res = await w.broker.connect(
      { clientId: 'd', protocol: 'mqtt5', cleanStart: true, sessionExpiryInterval: 0, receiveMaximum: 10 },
      new RecordingLink(),
    )
    expect(res).toEqual({ ok: false, reason: Refusal.ServerShuttingDown })
  })

  it('[MQTT-3.1.4-3] taking over a connection whose session had expiry 0 starts a new session', async () => {
    const w = await createWorld()
    const old = await connect(w, 'c', { cleanStart: true, expiry: 0 })
    old.subscribe('t', 1)
    const next = await connect(w, 'c', { cleanStart: false, expiry: 60 })
    expect(old.link.closed).toBe(Refusal.SessionTakenOver)
    expect(next.sessionPresent).toBe(false)
    expect(w.broker.stats.subscriptionsCurrent).toBe(0)
  })

  it('after stop(), ticks and late calls touch nothing (storage is closed)', async () => {
    const w = await createWorld({ sysIntervalMs: 1000 })
    const c = await connect(w, 'c', { cleanStart: false, expiry: 1 })
    c.subscribe('t', 1)
    c.disconnect()
    await w.broker.stop()
    w.clock.t += 10_000
    expect(() => w.broker.tick(w.clock.t)).not.toThrow()
    expect(w.broker.publish(null, { topic: 't', payload: Buffer.from('x'), qos: 1, retain: false, properties: {}, publishedAt: w.clock.t }).reason).toBe(
      Refusal.ServerShuttingDown,
    )
    expect(w.broker.stats.sessionsCurrent).toBe(1)
  })
})
