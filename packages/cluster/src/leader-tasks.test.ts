import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import type { Message } from '@fluxmq/core'
import { LeaderElection } from '@fluxmq/cluster-etcd'
import { Cleanup, until } from '@fluxmq/testing'
import { LeaderTasks } from './leader-tasks.js'
import { etcdForFile, type TestNode } from './test-support/etcd.js'
import { silent } from './test-support/silent.js'

const cleanup = new Cleanup()
const etcd = etcdForFile(cleanup)

const node = (nodeId: string, clusterName = 'leader-tasks'): Promise<TestNode> => etcd.node(clusterName, nodeId)

type Adopter = (n: TestNode) => (clientIds: readonly string[]) => Promise<readonly string[]>

/** A leader whose node holds no sessions: it adopts none (as before adoption existed). */
const adoptsNone: Adopter = () => () => Promise.resolve([])

/** The claims of EtcdCluster.adoptOrphans, without a broker to hold the sessions: each won one is recorded. */
function adoptsInto(adopted: string[]): Adopter {
  return (n) => async (clientIds) => {
    for (const clientId of clientIds) {
      const observed = await n.ownership.read(clientId)
      if (observed.owner === undefined && (await n.ownership.tryClaim(clientId, observed, true)).won) adopted.push(clientId)
    }
    return []
  }
}

/** A candidate running the leader tasks, recording what it publishes. */
async function candidate(
  nodeId: string,
  members: Set<string>,
  published: { node: string; message: Message }[],
  clusterName = 'leader-tasks',
  adopter = adoptsNone,
): Promise<{ election: LeaderElection; tasks: LeaderTasks }> {
  const n = await node(nodeId, clusterName)
  const election = new LeaderElection(etcd.connect(clusterName).namespace, n.lease, { nodeId, logger: silent })
  const tasks = new LeaderTasks({
    nodeId,
    election,
    wills: n.wills,
    subscriptions: n.store,
    ownership: n.ownership,
    isMember: (id) => members.has(id),
    publish: (message) => published.push({ node: nodeId, message }),
    adopt: adopter(n),
    logger: silent,
  })
  tasks.start()
  cleanup.defer(() => tasks.stop())
  await election.start()
  cleanup.defer(() => election.stop())
  return { election, tasks }
}

/** A will with a Message Expiry Interval of 10 s, accepted a second ago. */
function will(topic: string): Message {
  const at = Date.now()
  return { topic, payload: Buffer.from(topic), qos: 1, retain: false, properties: {}, publishedAt: at - 1_000, expiresAt: at + 9_000 }
}

describe('LeaderTasks (real etcd)', () => {
  it('publishes a dead node’s wills once, after their delay, unless the client came back; a new leader takes over; expired sessions are swept', async () => {
    const members = new Set(['l1', 'l2'])
    const published: { node: string; message: Message }[] = []
    // The node that dies: a will due at once, one due in 1 s whose client comes back, one due in 1.5 s,
    // and a saved session that expires 1 s after the death.
    const dead = await node('d')
    const gone = await dead.ownership.claim('gone')
    await dead.store.save('gone', gone.epoch, { protocol: 'mqtt5', expiryInterval: 1, subscriptions: [] })
    await dead.wills.put('now', { message: will('will/now'), delayInterval: 0 }, 3)
    await dead.wills.put('back', { message: will('will/back'), delayInterval: 1 }, 4)
    await dead.wills.put('late', { message: will('will/late'), delayInterval: 1.5 }, 5)
    // Its client disconnected a minute before the node died: its 30 s delay is over already.
    await dead.wills.put('overdue', { message: will('will/overdue'), delayInterval: 30 }, 6, { disconnectedAt: Date.now() - 60_000 })
    await dead.lease.stop()

    const first = await candidate('l1', members, published)
    const second = await candidate('l2', members, published)
    const leader = first.election.isLeader ? first : second
    const follower = leader === first ? second : first
    expect(follower.election.isLeader).toBe(false)
    await until(() => published.some((p) => p.message.topic === 'will/now') && published.some((p) => p.message.topic === 'will/overdue'), 'the wills due at once')

    // The client of 'back' connects again (on l2) before its delay elapsed.
    const l2 = await node('l2')
    await l2.ownership.claim('back')

    // The leader resigns: the other one is elected, scans, and finishes what is left.
    await leader.election.stop()
    await until(() => follower.election.isLeader, 'a new leader')
    await until(() => published.some((p) => p.message.topic === 'will/late'), 'the late will', 5_000)
    await until(async () => (await l2.store.load('gone')) === undefined, 'the expired session swept', 5_000)
    await sleep(1_500)

    expect(published.map((p) => p.message.topic).sort()).toEqual(['will/late', 'will/now', 'will/overdue'])
    const now = published.find((p) => p.message.topic === 'will/now')?.message
    // Published as by its client, its expiry counted from publication.
    expect(now).toMatchObject({ publisherId: 'now', payload: Buffer.from('will/now') })
    expect((now?.expiresAt ?? 0) - (now?.publishedAt ?? 0)).toBe(10_000)
    expect(await l2.wills.get('back')).toBeUndefined()
  })

  it('leaves the will of a node that restarted and claimed its session again to that node, and publishes it once that node dies before it registers', async () => {
    const cluster = 'leader-tasks-restart'
    const members = new Set(['l1'])
    const published: { node: string; message: Message }[] = []
    // Two nodes die with a client each connected (a will due at once), and start again: each
    // claims its stored session under a new lease before it registers (claimStored, then join).
    const claimedAgain: TestNode[] = []
    for (const nodeId of ['r', 'j']) {
      const before = await node(nodeId, cluster)
      const { epoch } = await before.ownership.claim(`${nodeId}-client`)
      await before.wills.put(`${nodeId}-client`, { message: will(`will/${nodeId}`), delayInterval: 0 }, epoch, { fence: before.ownership.fenced(`${nodeId}-client`, epoch) })
      await before.lease.stop()
      const after = await node(nodeId, cluster)
      const claim = await after.ownership.claim(`${nodeId}-client`)
      // What claimStored decides by: the will is still there as the node wrote it.
      expect(claim.will).toEqual({ node: nodeId, epoch })
      claimedAgain.push(after)
    }
    await candidate('l1', members, published, cluster)
    // Neither node is a member yet, but each owns its session: the leader leaves both wills alone.
    await sleep(1_500)
    expect(published).toEqual([])
    // j registers (its wills are its own); r dies again before it does: its lease expires, nobody owns
    // its session, and no membership change tells the leader: its rescan finds it.
    members.add('j')
    await claimedAgain[0]?.lease.stop()
    await until(() => published.length > 0, 'the will of the node that died again', 5_000)
    await sleep(1_500)
    expect(published.map((p) => p.message.topic)).toEqual(['will/r'])
    expect(await claimedAgain[1]?.wills.get('j-client')).toMatchObject({ node: 'j' })
  })

  it('adopts a dead node\'s saved sessions once and keeps their wills due: published after the delay, dropped when the client comes back after the adoption', async () => {
    const cluster = 'leader-tasks-adopt'
    const members = new Set(['l1', 'l2'])
    const published: { node: string; message: Message }[] = []
    const adopted: string[] = []
    const dead = await node('d', cluster)
    for (const [clientId, delayInterval] of [['stays', 1], ['returns', 1.5]] as const) {
      const { epoch } = await dead.ownership.claim(clientId)
      await dead.store.save(clientId, epoch, { protocol: 'mqtt5', expiryInterval: 60, subscriptions: [] })
      await dead.wills.put(clientId, { message: will(`will/${clientId}`), delayInterval }, epoch, { fence: dead.ownership.fenced(clientId, epoch) })
    }
    await dead.lease.stop()
    const first = await candidate('l1', members, published, cluster, adoptsInto(adopted))
    await until(() => adopted.length === 2, 'both sessions adopted')
    // The client of 'returns' connects again (on l2) after the adoption, before its will's delay.
    const l2 = await node('l2', cluster)
    await l2.ownership.claim('returns')
    await until(() => published.length > 0, 'the will of the adopted session', 5_000)
    // A second leader scans again: the sessions have owners, nothing is adopted or published twice.
    await first.election.stop()
    await candidate('l2', members, published, cluster, adoptsInto(adopted))
    await sleep(2_000)
    expect(published.map((p) => p.message.topic)).toEqual(['will/stays'])
    expect(adopted.sort()).toEqual(['returns', 'stays'])
    expect(await l2.wills.get('returns')).toBeUndefined()
  })
})
