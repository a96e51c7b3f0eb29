import { Cleanup, RecordingLogger, until, withTimeout } from '@fluxmq/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ClusterErrorCode, type ClusterError } from './errors.js'
import { EtcdMember } from './etcd-member.js'
import { NodeLease } from './node-lease.js'
import { type TestEtcdCluster, startEtcdCluster } from './test-support/etcd-cluster.js'

const cleanup = new Cleanup()
let etcd: TestEtcdCluster
beforeAll(async () => {
  etcd = await startEtcdCluster(cleanup, 1)
})
afterAll(() => cleanup.run())

describe('NodeLease', () => {
  it('holds keys while alive and drops them at once when stopped', async () => {
    const { namespace } = etcd.connect('lease-a')
    const lease = new NodeLease(namespace, { nodeId: 'n1', ttlSeconds: 2, logger: new RecordingLogger() })
    await lease.start()
    await namespace.put('nodes/n1').value('x').lease(lease.requireId())
    // Three TTLs later the key is still there: the keepalives work.
    await new Promise((resolve) => setTimeout(resolve, 6_000))
    expect(await namespace.get('nodes/n1').string()).toBe('x')
    await lease.stop()
    expect(await namespace.get('nodes/n1').string()).toBeNull()
  })

  it('reports "lost" within the TTL when etcd goes away, and re-grants when it is back', async () => {
    const [member] = etcd.members as [EtcdMember]
    const { namespace } = etcd.connect('lease-b')
    const logger = new RecordingLogger()
    const lease = cleanup.add(new NodeLease(namespace, { nodeId: 'n2', ttlSeconds: 2, logger }), (l) => l.stop())
    await lease.start()
    const lost = new Promise<ClusterError>((resolve) => lease.onLost(resolve))
    await member.stop()
    const stoppedAt = Date.now()
    const error = await withTimeout(lost, 10_000, 'the lease to be reported lost')
    expect(error.code).toBe(ClusterErrorCode.LeaseLost)
    // Trusted no longer than the TTL after the last keepalive etcd answered (slack for a loaded box).
    expect(Date.now() - stoppedAt).toBeLessThan(2_000 + 1_000)
    expect(lease.id).toBeUndefined()
    expect(() => lease.requireId()).toThrow(expect.objectContaining({ code: ClusterErrorCode.LeaseLost }))

    const granted = new Promise<string>((resolve) => lease.onGranted(resolve))
    const revived = cleanup.add(new EtcdMember({ ...member.options, logger }), (m) => m.stop())
    await revived.start()
    await withTimeout(granted, 20_000, 'a new lease after etcd came back')
    // A grant answered later than the trusted part of its TTL (the member just started) is lost
    // again at once and granted anew: what counts is a live lease to write on.
    await until(() => lease.id !== undefined, 'a live lease', 10_000)
    const id = lease.requireId()
    await namespace.put('nodes/n2').value('back').lease(id)
    expect(await namespace.get('nodes/n2').string()).toBe('back')
  })
})


describe('NodeLease on a 3-member etcd', () => {
  const three = new Cleanup()
  afterAll(() => three.run())

  it('stays alive through the death of one member, the client moving to the others', async () => {
    const cluster = await startEtcdCluster(three, 3)
    const { namespace } = cluster.connect('lease-c')
    const logger = new RecordingLogger()
    const lease = three.add(new NodeLease(namespace, { nodeId: 'n3', ttlSeconds: 3, logger }), (l) => l.stop())
    await lease.start()
    const first = lease.requireId()
    let lost = false
    lease.onLost(() => (lost = true))
    // The keepalive stream opens at the first tick; then one member dies for longer than three TTLs.
    // When it was the stream's member, the pool may pick it again on reopening (it picks at random):
    // before reopening promptly, two such picks spent the whole TTL and the lease was lost.
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    await (cluster.members[0] as EtcdMember).stop()
    await new Promise((resolve) => setTimeout(resolve, 10_000))
    expect(lost).toBe(false)
    expect(lease.id).toBe(first)
    await namespace.put('nodes/n3').value('still').lease(first)
  })

  it('reports "lost" a fifth of the TTL before etcd expires the lease, so its owner lets go while its keys still stand', async () => {
    const cluster = await startEtcdCluster(three, 3)
    // The lease talks to one follower alone: stopping it leaves the leader, which expires leases, running
    // (a new leader would extend every lease and hide the margin).
    const ids = await Promise.all(cluster.endpoints.map((endpoint) => cluster.connect('lease-d', [endpoint]).client.maintenance.status()))
    const follower = ids.findIndex((status) => status.header.member_id !== status.leader)
    const { namespace } = cluster.connect('lease-d', [cluster.endpoints[follower] as string])
    const observer = cluster.connect('lease-d', cluster.endpoints.filter((_, i) => i !== follower))
    const lease = three.add(new NodeLease(namespace, { nodeId: 'n4', ttlSeconds: 10, logger: new RecordingLogger() }), (l) => l.stop())
    await lease.start()
    const id = lease.requireId()
    const lost = new Promise<ClusterError>((resolve) => lease.onLost(resolve))
    await (cluster.members[follower] as EtcdMember).stop()
    await withTimeout(lost, 15_000, 'the lease to be reported lost')
    // etcd reports whole seconds left, rounded down: about 2 s of the margin remain, none without it.
    const { TTL } = await observer.namespace.leaseClient.leaseTimeToLive({ ID: id })
    expect(Number(TTL)).toBeGreaterThanOrEqual(1)
  })
})
