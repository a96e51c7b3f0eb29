import { describe, expect, it } from 'vitest'
import type { Message } from '@fluxmq/core'
import { TransportError, TransportErrorCode, type ForwardRouting } from '@fluxmq/cluster-transport'
import { ClusterNodeError, ClusterNodeErrorCode } from './errors.js'
import { silent } from './test-support/silent.js'
import { UnattendedResends } from './unattended-resends.js'

const will: Message = { topic: 'will/x', payload: Buffer.from('x'), qos: 2, retain: false, properties: {}, publishedAt: 1 }
const refused = (): Promise<void> => Promise.reject(new TransportError(TransportErrorCode.Rejected, 'no lease', { peer: 'n', remoteCode: 'FLUXMQ_ERR_CLUSTER_NOT_READY' }))
const inDoubt = (): Promise<void> => Promise.reject(new TransportError(TransportErrorCode.Closed, 'closed', { peer: 'q', inDoubt: true }))

/** Node `a`: what it sends, the sessions that arrived here (client → from, arrivals), what it gives them. */
function nodeA(routes: () => Set<string>) {
  const sent: { node: string; routing: ForwardRouting; seq: number }[] = []
  const arrived = new Map<string, { from: string; at: number }>()
  const given: string[] = []
  /** Sessions that got the publish held for them while they were acquired here. */
  const hadHeld = new Set<string>()
  const answers = new Map<string, () => Promise<void>>()
  const resends = new UnattendedResends({
    targets: routes,
    send: (node, _message, routing, seq) => {
      sent.push({ node, routing, seq })
      return (answers.get(node) ?? (() => Promise.resolve()))()
    },
    cameFrom: (clientId, nodes, after) => {
      const a = arrived.get(clientId)
      return a !== undefined && nodes.includes(a.from) && (after === undefined || ('arrivals' in after ? a.at > after.arrivals : a.at > after.seq))
    },
    gaveHeld: (_message, clientId) => hadHeld.has(clientId),
    // Every session here matches the publish.
    deliverAmong: (_message, among) => {
      const chosen = [...arrived.keys()].filter(among)
      given.push(...chosen)
      return chosen
    },
    logger: silent,
    delaysMs: [5, 5, 5],
  })
  return { resends, sent, arrived, given, answers, hadHeld }
}

describe('UnattendedResends', () => {
  it('sends nothing again when every node accepted', async () => {
    const { resends, sent } = nodeA(() => new Set(['m']))
    await resends.watch(will, 10, 3, new Map([['m', Promise.resolve()]]))
    expect(sent).toEqual([])
  })

  it('sends a refused publish again to the nodes that route it, for the sessions of the refusing node, and gives it here to those that came here after it was routed', async () => {
    let routes = new Set(['n', 'm'])
    const { resends, sent, arrived, given, answers } = nodeA(() => routes)
    arrived.set('before', { from: 'n', at: 2 })
    arrived.set('moved', { from: 'n', at: 4 })
    arrived.set('other', { from: 'm', at: 5 })
    answers.set('n', refused)
    const watched = resends.watch(will, 10, 3, new Map([['n', refused()], ['m', Promise.resolve()], ['p', Promise.reject(new ClusterNodeError(ClusterNodeErrorCode.NoPeer, 'gone'))]]))
    routes = new Set(['n', 'm', 'r'])
    await watched
    // Each resend goes to every node routing it by then, under the first routing sequence;
    // m may have applied it, so it offers it only to sessions that arrived after.
    const refusedBy = ['n', 'p']
    const round = [
      { node: 'n', routing: { resend: { refusedBy, applied: false } }, seq: 10 },
      { node: 'm', routing: { resend: { refusedBy, applied: true } }, seq: 10 },
      { node: 'r', routing: { resend: { refusedBy, applied: false } }, seq: 10 },
    ]
    expect(sent).toEqual([...round, ...round, ...round])
    // Here: `before` was here when this node routed it, `other` came from a node that had it; `moved` once.
    expect(given).toEqual(['moved'])
  })

  it('does not give it here to a session that came from the refusing node with the publish held for it', async () => {
    const { resends, arrived, given, answers, hadHeld } = nodeA(() => new Set(['n']))
    arrived.set('moved', { from: 'n', at: 4 })
    arrived.set('acquired', { from: 'n', at: 5 })
    hadHeld.add('acquired')
    answers.set('n', refused)
    await resends.watch(will, 10, 3, new Map([['n', refused()]]))
    expect(given).toEqual(['moved'])
  })

  it('does not send again to a node whose answer is unknown as if it had nothing, and reports it', async () => {
    const { resends, sent } = nodeA(() => new Set(['n', 'q']))
    await expect(resends.watch(will, 10, 3, new Map([['n', refused()], ['q', inDoubt()]]))).rejects.toMatchObject({ inDoubt: true })
    expect(sent.filter((s) => s.node === 'q').map((s) => s.routing.resend?.applied)).toEqual([true, true, true])
  })

  it('on the receiving node: gives each resend to the sessions it is for, each once', () => {
    const { resends, arrived, given } = nodeA(() => new Set())
    arrived.set('early', { from: 'n', at: 5 })
    arrived.set('late', { from: 'n', at: 50 })
    resends.receive('b', 10, will, { refusedBy: ['n'], applied: true })
    resends.receive('b', 10, will, { refusedBy: ['n'], applied: true })
    expect(given).toEqual(['late'])
    resends.receive('b', 10, will, { refusedBy: ['n'], applied: false })
    expect(given).toEqual(['late', 'early'])
    // Another publish is another resend.
    resends.receive('b', 11, will, { refusedBy: ['n'], applied: false })
    expect(given).toEqual(['late', 'early', 'early', 'late'])
  })

  it('stops its resends when closed', async () => {
    const { resends, sent, answers } = nodeA(() => new Set(['n']))
    answers.set('n', refused)
    const watched = resends.watch(will, 10, 3, new Map([['n', refused()]]))
    resends.close()
    await watched
    expect(sent).toEqual([])
  })
})
