import { describe, expect, it } from 'vitest'
import { ReasonCode } from './reason-code.js'
import { connect, createWorld, message } from './test-support/harness.js'
import { RecordingCluster } from './test-support/recording-cluster.js'

describe('Broker and the Cluster seam', () => {
  it('acquires ownership before attaching and reports ServerUnavailable when it cannot', async () => {
    const cluster = new RecordingCluster()
    const w = await createWorld({}, { cluster })
    await connect(w, 'c')
    expect(cluster.calls).toEqual(['claim stored ', 'acquire c'])
    cluster.fail = true
    await expect(connect(w, 'd')).rejects.toThrow(/connect d failed: 136/)
  })

  it('adds a route when the local count of a filter goes 0→1 and removes it at 1→0', async () => {
    const cluster = new RecordingCluster()
    const w = await createWorld({}, { cluster })
    const a = await connect(w, 'a')
    const b = await connect(w, 'b')
    a.subscribe('x/#', 1)
    b.subscribe('x/#', 1)
    a.subscribe('$share/g/y', 1)
    b.subscribe('$share/g/y', 1)
    a.subscribe('x/#', 2)
    w.broker.unsubscribe(a.handle, ['x/#', '$share/g/y'])
    b.disconnect()
    expect(cluster.calls.filter((c) => !c.startsWith('acquire') && !c.startsWith('claim'))).toEqual([
      'add x/#',
      'add $share/g/y',
      'remove x/#',
      'remove $share/g/y',
      'release b',
    ])
  })

  it('forwards client publishes and wills, delivers deliverLocal without forwarding again', async () => {
    const cluster = new RecordingCluster()
    const w = await createWorld({ sysIntervalMs: 1000 }, { cluster })
    const sub = await connect(w, 'sub')
    sub.subscribe('t', 1)
    const pub = await connect(w, 'p')
    pub.publish('t', 'local', 1)
    w.broker.tick(w.clock.t)
    cluster.inbound?.deliverLocal(message(w.clock, 't', 'remote', 1))
    expect(cluster.forwarded.map((m) => m.payload.toString())).toEqual(['local'])
    expect(sub.link.take().map((r) => r.payload)).toEqual(['local', 'remote'])
  })

  it('adopts a session transferred from another node', async () => {
    const cluster = new RecordingCluster()
    const w = await createWorld({}, { cluster })
    const m = message(w.clock, 'inbox/c', 'queued', 1)
    cluster.transfer = {
      session: { clientId: 'c', protocol: 'mqtt5', expiryInterval: 600, disconnectedAt: w.clock.t },
      subscriptions: [{ filter: 'inbox/+', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
      inflight: [{ packetId: 17, message: message(w.clock, 'inbox/c', 'inflight', 1), qos: 1, retain: false, state: 'publish' }],
      incomingQos2: [5],
      offline: [m],
    }
    const c = await connect(w, 'c', { cleanStart: false, expiry: 600 })
    expect(c.sessionPresent).toBe(true)
    expect(c.link.take().map((r) => [r.payload, r.packetId, r.dup])).toEqual([
      ['inflight', 17, true],
      ['queued', 1, false],
    ])
    expect(w.broker.releaseQos2(c.handle, 5)).toBe(true)
    const stored = (await w.storage.open()).sessions.find((s) => s.session.clientId === 'c')
    expect(stored?.subscriptions.map((s) => s.filter)).toEqual(['inbox/+'])
  })

  it('surrenders a session: 0x8E to the client, everything handed over, nothing left here', async () => {
    const cluster = new RecordingCluster()
    const w = await createWorld({}, { cluster })
    const c = await connect(w, 'c', { cleanStart: false, expiry: 600, receiveMaximum: 1 })
    c.subscribe('t', 2)
    const pub = await connect(w, 'p')
    pub.publish('t', 'inflight', 2)
    pub.publish('t', 'pending', 2)
    const t = await cluster.inbound?.surrenderSession('c', 2)
    expect(c.link.closed).toBe(ReasonCode.SessionTakenOver)
    expect(t?.session.clientId).toBe('c')
    expect(t?.subscriptions.map((s) => s.filter)).toEqual(['t'])
    expect(t?.inflight.map((r) => r.message.payload.toString())).toEqual(['inflight'])
    expect(t?.offline.map((m) => m.payload.toString())).toEqual(['pending'])
    expect(w.broker.stats).toMatchObject({ sessionsCurrent: 1, subscriptionsCurrent: 0, inflightCurrent: 0, offlineQueuedCurrent: 0 })
    expect((await w.storage.open()).sessions).toEqual([])
    expect(await cluster.inbound?.surrenderSession('nobody', 2)).toBeUndefined()
  })
})
