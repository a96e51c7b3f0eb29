import { Broker, MemoryStorage, ReasonCode } from '@fluxmq/core'
import type { BrokerCore, ClientLink, ConnectRequest, Logger, SessionHandle, SubscriptionOptions } from '@fluxmq/core'
import { beforeEach, describe, expect, it } from 'vitest'
import { ObservedStorage, SessionDirectory, observeBroker } from './session-directory.js'

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent }

let now = 1_000_000
let directory: SessionDirectory
let core: BrokerCore
let closed: ReasonCode[]

const link = (): ClientLink => ({ deliver: () => true, release() {}, close: (reason) => void closed.push(reason) })
const sub = (filter: string, qos: 0 | 1 | 2 = 1): SubscriptionOptions => ({ filter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 })

async function connect(clientId: string, fields: Partial<ConnectRequest> = {}): Promise<SessionHandle> {
  const result = await core.connect({ clientId, protocol: 'mqtt5', cleanStart: false, sessionExpiryInterval: 0, receiveMaximum: 10, ...fields }, link())
  if (!result.ok) throw new Error(`connect refused: ${result.reason}`)
  core.activate(result.session)
  return result.session
}

beforeEach(async () => {
  now = 1_000_000
  closed = []
  directory = new SessionDirectory(() => now, 0)
  const broker = new Broker({
    nodeId: 'n1',
    version: 'test',
    clock: { now: () => now },
    logger: silent,
    storage: new ObservedStorage(new MemoryStorage(), (state) => directory.loaded(state)),
    maxQos: 1,
    retryIntervalMs: 20_000,
    maxOfflineMessages: 100,
    offlineOverflow: 'drop_oldest',
    defaultExpiry: 7200,
    maxExpiry: 0,
    maxRetainedMessages: 0,
    maxSubscriptionsPerClient: 0,
    sysIntervalMs: 0,
  })
  core = observeBroker(broker, directory)
  await core.start()
})

describe('SessionDirectory', () => {
  it('lists connected sessions with what the core granted', async () => {
    const handle = await connect('c1', { username: 'u', remoteAddress: '127.0.0.1:5' })
    core.subscribe(handle, [sub('a/#', 2), sub('bad/#/x')])
    const entry = directory.get('c1')
    expect(entry).toMatchObject({ clientId: 'c1', username: 'u', connected: true, remoteAddress: '127.0.0.1:5' })
    // The broker caps QoS at max_qos 1 and refuses the invalid filter: only the grant is listed.
    expect([...entry!.subscriptions.values()].map((s) => [s.filter, s.qos])).toEqual([['a/#', 1]])
    expect(core.unsubscribe(handle, ['a/#'])).toEqual([ReasonCode.Success])
    expect(entry!.subscriptions.size).toBe(0)
  })

  it('drops a session with expiry 0 when its connection ends', async () => {
    const handle = await connect('c1')
    core.disconnect(handle, { publishWill: false })
    expect(directory.get('c1')).toBeUndefined()
  })

  it('keeps a persistent session, its subscriptions, until its expiry passes', async () => {
    const handle = await connect('p1', { sessionExpiryInterval: 60 })
    core.subscribe(handle, [sub('x')])
    core.disconnect(handle, { publishWill: false })
    expect(directory.get('p1')).toMatchObject({ connected: false, disconnectedAt: now, expiryInterval: 60 })
    now += 59_000
    expect(directory.get('p1')?.subscriptions.size).toBe(1)
    now += 1_000
    expect(directory.get('p1')).toBeUndefined()
  })

  it('follows a session expiry changed at DISCONNECT, capped by max_expiry', async () => {
    directory = new SessionDirectory(() => now, 30)
    core = observeBroker(core, directory)
    const handle = await connect('p2', { sessionExpiryInterval: 10 })
    core.disconnect(handle, { publishWill: false, sessionExpiryInterval: 3600 })
    expect(directory.get('p2')?.expiryInterval).toBe(30)
  })

  it('keeps subscriptions when the session is resumed and clears them on clean start [MQTT-3.1.2-4]', async () => {
    let handle = await connect('p1', { sessionExpiryInterval: 60 })
    core.subscribe(handle, [sub('x')])
    core.disconnect(handle, { publishWill: false })
    handle = await connect('p1', { sessionExpiryInterval: 60 })
    expect(directory.get('p1')?.subscriptions.size).toBe(1)
    expect(directory.get('p1')?.connected).toBe(true)
    await connect('p1', { sessionExpiryInterval: 60, cleanStart: true })
    expect(directory.get('p1')?.subscriptions.size).toBe(0)
  })

  it('ignores the stale handle of a taken-over connection [MQTT-3.1.4-3]', async () => {
    const first = await connect('t1', { sessionExpiryInterval: 60 })
    core.subscribe(first, [sub('y')])
    const second = await connect('t1', { sessionExpiryInterval: 60 })
    expect(closed).toEqual([ReasonCode.SessionTakenOver])
    core.disconnect(first, { publishWill: true })
    core.subscribe(first, [sub('z')])
    const entry = directory.get('t1')
    expect(entry?.connected).toBe(true)
    expect(entry?.handle).toBe(second)
    expect([...entry!.subscriptions.keys()]).toEqual(['y'])
  })

  it('follows the core when a takeover starts a fresh session', async () => {
    const first = await connect('t2')
    core.subscribe(first, [sub('y')])
    const result = await core.connect({ clientId: 't2', protocol: 'mqtt5', cleanStart: false, sessionExpiryInterval: 0, receiveMaximum: 10 }, link())
    expect(result.ok).toBe(true)
    const present = result.ok && result.sessionPresent
    expect(directory.get('t2')?.subscriptions.size).toBe(present ? 1 : 0)
  })

  it('lists sessions loaded from storage as disconnected', () => {
    directory.loaded({
      sessions: [
        {
          session: { clientId: 'old', protocol: 'mqtt3', expiryInterval: 0xffff_ffff, disconnectedAt: 5 },
          subscriptions: [sub('s/#')],
          inflight: [],
          incomingQos2: [],
          offlineCount: 2,
        },
      ],
      retained: [],
    })
    now += 10 * 365 * 86_400_000
    expect(directory.get('old')).toMatchObject({ connected: false, protocol: 'mqtt3', disconnectedAt: 5 })
    expect([...directory.all()].map((entry) => entry.clientId)).toContain('old')
  })
})
