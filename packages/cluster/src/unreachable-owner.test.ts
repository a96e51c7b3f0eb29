import { describe, expect, it } from 'vitest'
import { TransportError, TransportErrorCode, type BreakerState, type Peer } from '@fluxmq/cluster-transport'
import { UNREACHABLE, unlessUnreachable } from './unreachable-owner.js'

/** A previous owner's peer as the takeover sees it: only its breaker state. */
function peerWith(states: BreakerState[]): Peer {
  let i = 0
  const breaker = (): BreakerState => states[Math.min(i++, states.length - 1)] as BreakerState
  const peer = {
    get state() {
      return { breaker: breaker() }
    },
  }
  return peer as unknown as Peer
}

const never = (): void => undefined

describe('unlessUnreachable', () => {
  it('asks a registered owner whose breaker is closed, and returns its answer', async () => {
    expect(await unlessUnreachable(peerWith(['closed']), () => true, () => Promise.resolve('state'), never)).toBe('state')
  })

  it('gives up at once on an owner that is no longer registered', async () => {
    let asked = false
    const outcome = await unlessUnreachable(peerWith(['closed']), () => false, () => ((asked = true), Promise.resolve('state')), never)
    expect(outcome).toBe(UNREACHABLE)
    expect(asked).toBe(false)
  })

  it('waits for the probe of a registered owner whose breaker is open (it came back within its lease), then asks it', async () => {
    // Open for the first looks (the outage), then half-open: the probe is due.
    const peer = peerWith(['open', 'open', 'open', 'half-open', 'closed'])
    expect(await unlessUnreachable(peer, () => true, () => Promise.resolve('state'), never)).toBe('state')
  })

  it('gives up on a registered owner whose breaker stays open past the probe wait', async () => {
    const started = Date.now()
    expect(await unlessUnreachable(peerWith(['open']), () => true, () => Promise.resolve('state'), never)).toBe(UNREACHABLE)
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_400)
  })

  it('takes a call that cannot connect as unreachable, and hands a late answer to `late`', async () => {
    const refused = new TransportError(TransportErrorCode.PeerUnavailable, 'connect ECONNREFUSED', { peer: 'n2' })
    expect(await unlessUnreachable(peerWith(['closed']), () => true, () => Promise.reject(refused), never)).toBe(UNREACHABLE)
    let lateValue: string | undefined
    let answer!: (value: string) => void
    let registered = true
    const outcome = unlessUnreachable(peerWith(['closed']), () => registered, () => new Promise<string>((resolve) => (answer = resolve)), (v) => (lateValue = v))
    registered = false
    expect(await outcome).toBe(UNREACHABLE)
    answer('surrendered')
    await new Promise((resolve) => setImmediate(resolve))
    expect(lateValue).toBe('surrendered')
  })
})
