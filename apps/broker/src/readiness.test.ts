import { describe, expect, it } from 'vitest'
import { ReadinessTracker } from './readiness.js'

const address = { address: '127.0.0.1', family: 'IPv4', port: 1 }

describe('ReadinessTracker', () => {
  it('is ready only once every expected listener is bound and storage is open', () => {
    const tracker = new ReadinessTracker()
    tracker.expect('mqtt-tcp')
    tracker.expect('http')
    expect(tracker.report()).toEqual({ ready: false, checks: { 'mqtt-tcp': { ok: false, reason: 'not listening yet' }, http: { ok: false, reason: 'not listening yet' }, storage: { ok: false, reason: 'storage is not open' } } })
    tracker.storageOpened()
    tracker.bound('mqtt-tcp', address)
    expect(tracker.report().ready).toBe(false)
    tracker.bound('http', address)
    expect(tracker.report()).toEqual({ ready: true, checks: { 'mqtt-tcp': { ok: true }, http: { ok: true }, storage: { ok: true } } })
  })

  it('is not ready while shutting down', () => {
    const tracker = new ReadinessTracker()
    tracker.expect('mqtt-tcp')
    tracker.bound('mqtt-tcp', address)
    tracker.storageOpened()
    tracker.shuttingDown()
    expect(tracker.report()).toEqual({ ready: false, checks: { 'mqtt-tcp': { ok: false, reason: 'shutting down' }, storage: { ok: false, reason: 'shutting down' } } })
  })

  it('is not ready after a storage failure', () => {
    const storage: { failure?: Error } = {}
    const tracker = new ReadinessTracker(() => storage.failure)
    tracker.storageOpened()
    expect(tracker.report().ready).toBe(true)
    storage.failure = new Error('SQLITE_FULL: database or disk is full')
    expect(tracker.report()).toEqual({ ready: false, checks: { storage: { ok: false, reason: 'SQLITE_FULL: database or disk is full' } } })
  })

  it('in a cluster, is ready only once the node joined, and not while leaving', () => {
    const tracker = new ReadinessTracker()
    tracker.storageOpened()
    tracker.expectCluster()
    expect(tracker.report()).toEqual({ ready: false, checks: { storage: { ok: true }, cluster: { ok: false, reason: 'not registered in the cluster yet' } } })
    tracker.joinedCluster()
    expect(tracker.report().ready).toBe(true)
    tracker.shuttingDown()
    expect(tracker.report().checks.cluster).toEqual({ ok: false, reason: 'shutting down' })
  })

  it('in a cluster, is not ready while the node reports it cannot take sessions (no etcd quorum)', () => {
    const tracker = new ReadinessTracker()
    tracker.storageOpened()
    tracker.expectCluster()
    let unhealthy: string | undefined = 'etcd has no quorum'
    tracker.joinedCluster(() => unhealthy)
    expect(tracker.report()).toEqual({ ready: false, checks: { storage: { ok: true }, cluster: { ok: false, reason: 'etcd has no quorum' } } })
    unhealthy = undefined
    expect(tracker.report().ready).toBe(true)
  })
})
