import { Cleanup, RecordingLogger, until } from '@fluxmq/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { EtcdConnection } from './client.js'
import { LeaderElection } from './leader-election.js'
import { NodeLease } from './node-lease.js'
import { type TestEtcdCluster, startEtcdCluster } from './test-support/etcd-cluster.js'

const cleanup = new Cleanup()
let etcd: TestEtcdCluster
beforeAll(async () => {
  etcd = await startEtcdCluster(cleanup, 3)
})
afterAll(() => cleanup.run())

const TTL_SECONDS = 2

interface Candidate {
  readonly nodeId: string
  readonly connection: EtcdConnection
  readonly lease: NodeLease
  readonly election: LeaderElection
  /** [time, event] in the order they happened, to check that terms never overlap. */
  readonly history: [number, 'elected' | 'deposed'][]
}

async function startCandidates(cluster: string): Promise<Candidate[]> {
  return Promise.all(
    ['n1', 'n2', 'n3'].map(async (nodeId, i) => {
      const logger = new RecordingLogger()
      const connection = etcd.connect(cluster, [etcd.endpoints[i] as string])
      const lease = cleanup.add(new NodeLease(connection.namespace, { nodeId, ttlSeconds: TTL_SECONDS, logger }), (l) => l.stop())
      await lease.start()
      const election = cleanup.add(new LeaderElection(connection.namespace, lease, { nodeId, logger }), (e) => e.stop())
      const history: Candidate['history'] = []
      election.onElected(() => history.push([Date.now(), 'elected']))
      election.onDeposed(() => history.push([Date.now(), 'deposed']))
      await election.start()
      return { nodeId, connection, lease, election, history }
    }),
  )
}

function leaders(candidates: readonly Candidate[]): Candidate[] {
  return candidates.filter((c) => c.election.isLeader)
}

describe('LeaderElection', () => {
  it('elects exactly one leader that every node agrees on, and hands over at once on resign', async () => {
    const candidates = await startCandidates('lead-a')
    await until(() => leaders(candidates).length === 1, 'one leader')
    const [first] = leaders(candidates) as [Candidate]
    await until(() => candidates.every((c) => c.election.leader === first.nodeId), 'every node to see the same leader')
    const firstTerm = first.election.term as string

    const resignedAt = Date.now()
    await first.election.stop()
    const rest = candidates.filter((c) => c !== first)
    await until(() => leaders(rest).length === 1, 'a new leader')
    expect(Date.now() - resignedAt).toBeLessThan(1_000)
    const [second] = leaders(rest) as [Candidate]
    expect(BigInt(second.election.term as string)).toBeGreaterThan(BigInt(firstTerm))
    expect(first.election.isLeader).toBe(false)
  })

  it('replaces a dead leader within the TTL, after the old one has stopped acting', async () => {
    const candidates = await startCandidates('lead-b')
    await until(() => leaders(candidates).length === 1, 'one leader')
    const [dead] = leaders(candidates) as [Candidate]
    // The leader's process dies: no more keepalives, no resign.
    const diedAt = Date.now()
    dead.connection.close()
    const rest = candidates.filter((c) => c !== dead)
    await until(() => leaders(rest).length === 1, 'a new leader', 10_000)
    const electedAt = Date.now()
    expect(electedAt - diedAt).toBeLessThan(TTL_SECONDS * 1000 + 2_500)
    // The old leader deposed itself (its lease watchdog) before anyone else was elected.
    const [next] = leaders(rest) as [Candidate]
    const deposedAt = dead.history.find(([, event]) => event === 'deposed')?.[0]
    const nextElectedAt = next.history.find(([, event]) => event === 'elected')?.[0]
    expect(deposedAt).toBeDefined()
    expect(deposedAt as number).toBeLessThanOrEqual(nextElectedAt as number)
    expect(leaders(candidates)).toEqual([next])
  })
})
