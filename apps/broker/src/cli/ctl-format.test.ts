import { describe, expect, it } from 'vitest'
import { formatAnswer } from './ctl-format.js'

describe('ctl cluster', () => {
  it('lists the transport peers of a clustered node under the summary line', () => {
    const out = formatAnswer(
      { what: 'cluster' },
      {
        name: 'fluxmq',
        enabled: true,
        leader: null,
        nodes: ['n1', 'n2'],
        peers: [{ peer: 'n2', address: '127.0.0.1:7949', breaker: 'closed', pendingMessages: 0, acceptedMessages: 40, acceptedBatches: 3, rejectedBatches: 0, resentBatches: 1 }],
      },
    )
    expect(out).toBe(
      'cluster fluxmq: clustering on, leader -, nodes n1, n2\n\n' +
        'PEER  ADDRESS         CIRCUIT  PENDING  FORWARDED  BATCHES  REJECTED  RESENT\n' +
        'n2    127.0.0.1:7949  closed   0        40         3        0         1\n',
    )
  })

  it('names the leader and the nodes seen dead', () => {
    const out = formatAnswer(
      { what: 'cluster' },
      { name: 'fluxmq', enabled: true, leader: 'n2', nodes: ['n2'], dead: [{ node: 'n1', state: 'dead', since: '2026-01-01T00:00:00.000Z' }], peers: [] },
    )
    expect(out).toBe('cluster fluxmq: clustering on, leader n2, nodes n2, dead n1 since 2026-01-01T00:00:00.000Z\n')
  })

  it('marks a leaving node, and says so when the answering node is cut off from etcd', () => {
    const out = formatAnswer({ what: 'cluster' }, { name: 'fluxmq', enabled: true, leader: null, nodes: ['n1', 'n2', 'n3'], leaving: ['n2'], leaseHeld: false, peers: [] })
    expect(out).toBe(
      'cluster fluxmq: clustering on, leader -, nodes n1, n2 (leaving), n3\n' +
        'this node holds no lease (etcd unreachable: partitioned or no quorum): it serves no session until it has one again\n',
    )
  })
})
