import type { NodeInfo } from '@fluxmq/cluster-etcd'
import { describe, expect, it } from 'vitest'
import { GracefulLeave } from './graceful-leave.js'
import { silent } from './test-support/silent.js'

function member(nodeId: string, mqtt: string | undefined, leaving = false): NodeInfo {
  return { nodeId, transportAddr: `${nodeId}:7948`, clientAddrs: mqtt === undefined ? {} : { mqtt }, version: '0', ...(leaving ? { leaving: true as const } : {}) }
}

function leaveOf(members: NodeInfo[], owned: () => number, quorate = (): boolean => true): GracefulLeave {
  const map = new Map(members.map((m) => [m.nodeId, m]))
  return new GracefulLeave({ nodeId: 'n1', members: () => map, owned, quorate, logger: silent })
}

describe('GracefulLeave', () => {
  it('names the serving nodes in turn, never itself, a leaving node or one without an MQTT address', () => {
    const leave = leaveOf([member('n1', 'h:1'), member('n3', 'h:3'), member('n2', 'h:2'), member('n4', 'h:4', true), member('n5', undefined)], () => 0)
    expect(Array.from({ length: 5 }, () => leave.serverReference())).toEqual(['h:2', 'h:3', 'h:2', 'h:3', 'h:2'])
  })

  it('names nobody when no other node serves', () => {
    expect(leaveOf([member('n1', 'h:1'), member('n2', 'h:2', true)], () => 0).serverReference()).toBeUndefined()
  })

  it('drains until no session is owned here', async () => {
    let owned = 3
    const leave = leaveOf([member('n1', 'h:1'), member('n2', 'h:2')], () => owned)
    const drained = leave.drained(10_000)
    setTimeout(() => (owned = 0), 120)
    const started = performance.now()
    expect(await drained).toBe(0)
    expect(performance.now() - started).toBeGreaterThanOrEqual(100)
  })

  it('stops waiting at the timeout, or at once when no other node serves, with what is left', async () => {
    expect(await leaveOf([member('n1', 'h:1'), member('n2', 'h:2')], () => 2).drained(100)).toBe(2)
    const started = performance.now()
    expect(await leaveOf([member('n1', 'h:1')], () => 2).drained(10_000)).toBe(2)
    expect(performance.now() - started).toBeLessThan(1_000)
  })

  it('stops waiting at once when etcd has no quorum: no claim commits, so no session can move', async () => {
    const started = performance.now()
    expect(await leaveOf([member('n1', 'h:1'), member('n2', 'h:2')], () => 2, () => false).drained(10_000)).toBe(2)
    expect(performance.now() - started).toBeLessThan(1_000)
  })
})
