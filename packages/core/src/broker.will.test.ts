import { describe, expect, it } from 'vitest'
import type { WillRecord } from './storage.js'
import { Refusal } from './refusal.js'
import { connect, createWorld, message, RecordingLink, type World } from './test-support/harness.js'

function will(w: World, delayInterval = 0, extra: Parameters<typeof message>[4] = {}): WillRecord {
  return { message: message(w.clock, 'will/c', 'gone', 1, { publisherId: 'c', ...extra }), delayInterval }
}

async function watcher(w: World) {
  const c = await connect(w, 'watcher')
  c.subscribe('will/#', 1)
  return c
}

describe('Broker wills', () => {
  it('publishes the will when the connection is lost', async () => {
    const w = await createWorld()
    const watch = await watcher(w)
    const c = await connect(w, 'c', { will: will(w) })
    c.disconnect(true)
    expect(watch.link.take().map((r) => r.payload)).toEqual(['gone'])
  })

  it('[MQTT-3.1.2-10] a normal DISCONNECT deletes the will', async () => {
    const w = await createWorld()
    const watch = await watcher(w)
    const c = await connect(w, 'c', { will: will(w), cleanStart: false, expiry: 60 })
    c.disconnect(false)
    w.clock.t += 120_000
    w.broker.tick(w.clock.t)
    expect(watch.link.received).toEqual([])
  })

  it('[MQTT-3.1.2-8] waits for the Will Delay Interval', async () => {
    const w = await createWorld()
    const watch = await watcher(w)
    const c = await connect(w, 'c', { will: will(w, 10), cleanStart: false, expiry: 3600 })
    c.disconnect(true)
    w.clock.t += 9_999
    w.broker.tick(w.clock.t)
    expect(watch.link.received).toEqual([])
    w.clock.t += 1
    w.broker.tick(w.clock.t)
    expect(watch.link.take()).toHaveLength(1)
    w.clock.t += 3_600_000
    w.broker.tick(w.clock.t)
    expect(watch.link.received).toEqual([])
  })

  it('[MQTT-3.1.2-8] the session ending first publishes the will early', async () => {
    const w = await createWorld()
    const watch = await watcher(w)
    const c = await connect(w, 'c', { will: will(w, 100), cleanStart: false, expiry: 5 })
    c.disconnect(true)
    w.clock.t += 5_000
    w.broker.tick(w.clock.t)
    expect(watch.link.take()).toHaveLength(1)
    expect(w.broker.stats.sessionsCurrent).toBe(1)
  })

  it('[MQTT-3.1.3-9] a reconnect before the delay elapsed cancels the will', async () => {
    const w = await createWorld()
    const watch = await watcher(w)
    const c = await connect(w, 'c', { will: will(w, 10), cleanStart: false, expiry: 3600 })
    c.disconnect(true)
    w.clock.t += 5_000
    await connect(w, 'c', { cleanStart: false, expiry: 3600 })
    w.clock.t += 60_000
    w.broker.tick(w.clock.t)
    expect(watch.link.received).toEqual([])
  })

  it('[MQTT-3.1.2-8] [MQTT-3.1.3-9] takeover publishes the old connection will only when it has no delay', async () => {
    const w = await createWorld()
    const watch = await watcher(w)
    await connect(w, 'c', { will: will(w, 0), cleanStart: false, expiry: 60 })
    await connect(w, 'c', { cleanStart: false, expiry: 60 })
    expect(watch.link.take()).toHaveLength(1)
    await connect(w, 'd', { will: { ...will(w, 30) }, cleanStart: false, expiry: 60 })
    await connect(w, 'd', { cleanStart: false, expiry: 60 })
    w.clock.t += 60_000
    w.broker.tick(w.clock.t)
    expect(watch.link.received).toEqual([])
  })

  it('honours the will RETAIN flag and restarts the Message Expiry Interval at publication', async () => {
    const w = await createWorld()
    const connectedAt = w.clock.t
    const c = await connect(w, 'c', { will: will(w, 0, { retain: true, expiresAt: connectedAt + 30_000 }) })
    w.clock.t += 3_600_000
    c.disconnect(true)
    const late = await connect(w, 'late')
    late.subscribe('will/c', 1)
    const got = late.link.take()
    expect(got.map((r) => [r.payload, r.retain])).toEqual([['gone', true]])
    expect(got[0]?.message.expiresAt).toBe(w.clock.t + 30_000)
  })

  it('a pending will survives a restart and still fires after its delay', async () => {
    const w = await createWorld()
    const c = await connect(w, 'c', { will: will(w, 10, { retain: true }), cleanStart: false, expiry: 3600 })
    c.disconnect(true)
    await w.broker.stop()
    const w2 = await createWorld({}, { clock: w.clock, storage: w.storage })
    const watch = await watcher(w2)
    w2.clock.t += 10_000
    w2.broker.tick(w2.clock.t)
    expect(watch.link.take().map((r) => r.payload)).toEqual(['gone'])
  })

  it('a crash while connected publishes the will of a persistent session after the restart', async () => {
    const w = await createWorld()
    await connect(w, 'c', { will: will(w, 0), cleanStart: false, expiry: 3600 })
    await w.storage.close()
    const w2 = await createWorld({}, { clock: w.clock, storage: w.storage })
    // Not inside start(): a clustered node routes to the others only once it has joined, after it.
    expect(w2.broker.stats.messagesReceived).toBe(0)
    const watch = await watcher(w2)
    w2.broker.tick(w2.clock.t)
    expect(watch.link.take()).toHaveLength(1)
    expect(w2.broker.stats.messagesReceived).toBe(1)
    w2.clock.t += 3_600_000
    w2.broker.tick(w2.clock.t)
    expect(watch.link.received).toEqual([])
  })

  it('a will to a topic the client may not publish to refuses the CONNECT', async () => {
    const w = await createWorld({ authorizer: { canPublish: () => false, canSubscribe: () => true } })
    await expect(connect(w, 'c', { will: will(w) })).rejects.toThrow(/connect c failed: not_authorized/)
  })

  describe('shutdown', () => {
    function willOf(w: World, id: string, delayInterval: number): WillRecord {
      return { message: message(w.clock, `will/${id}`, `${id} gone`, 1, { publisherId: id }), delayInterval }
    }

    /** A watcher connected before the clients whose wills it watches, so a naive shutdown would close it first. */
    async function shutdownScene(w: World) {
      const watch = await watcher(w)
      const seenWhenClosed: string[][] = []
      watch.link.onClose = () => seenWhenClosed.push(watch.link.received.map((r) => r.payload))
      await connect(w, 'nodelay', { will: willOf(w, 'nodelay', 0), cleanStart: false, expiry: 3600 })
      await connect(w, 'ending', { will: willOf(w, 'ending', 30), expiry: 0 })
      await connect(w, 'delayed', { will: willOf(w, 'delayed', 60), cleanStart: false, expiry: 3600 })
      return { watch, seenWhenClosed }
    }

    it('[MQTT-3.1.2-8] stop(): the wills the shutdown makes due reach every subscriber before any connection is closed', async () => {
      const w = await createWorld()
      const { watch, seenWhenClosed } = await shutdownScene(w)
      await w.broker.stop()
      expect(watch.link.closed).toBe(Refusal.ServerShuttingDown)
      expect(seenWhenClosed).toEqual([['nodelay gone', 'ending gone']])
    })

    it('[MQTT-3.1.2-8] a delayed will of a session that outlives the shutdown stays pending across the restart; due ones are not published again', async () => {
      const w = await createWorld()
      await shutdownScene(w)
      await w.broker.stop()
      const w2 = await createWorld({}, { clock: w.clock, storage: w.storage })
      const watch = await watcher(w2)
      w2.broker.tick(w2.clock.t)
      expect(w2.broker.stats.messagesReceived).toBe(0)
      w2.clock.t += 60_000
      w2.broker.tick(w2.clock.t)
      expect(watch.link.take().map((r) => r.payload)).toEqual(['delayed gone'])
    })

    it('[MQTT-3.1.2-8] a crash right after beginShutdown() does not publish a stored session will a second time', async () => {
      const w = await createWorld()
      await shutdownScene(w)
      w.broker.beginShutdown()
      await w.storage.close()
      const w2 = await createWorld({}, { clock: w.clock, storage: w.storage })
      expect(w2.broker.stats.messagesReceived).toBe(0)
    })

    it('beginShutdown() publishes the due wills once, refuses new connections, and serves open ones until stop()', async () => {
      const w = await createWorld()
      const { watch } = await shutdownScene(w)
      w.broker.beginShutdown()
      w.broker.beginShutdown()
      expect(watch.link.take().map((r) => r.payload)).toEqual(['nodelay gone', 'ending gone'])
      const refused = await w.broker.connect(
        { clientId: 'late', protocol: 'mqtt5', cleanStart: true, sessionExpiryInterval: 0, receiveMaximum: 10 },
        new RecordingLink(),
      )
      expect(refused).toEqual({ ok: false, reason: Refusal.ServerShuttingDown })
      expect(w.broker.session('nodelay')?.connected).toBe(true)
      await w.broker.stop()
      expect(watch.link.received).toEqual([])
    })
  })
})
