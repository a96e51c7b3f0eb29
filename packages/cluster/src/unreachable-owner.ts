import { setTimeout as sleep } from 'node:timers/promises'
import type { Peer } from '@fluxmq/cluster-transport'
import { TransportError, TransportErrorCode } from '@fluxmq/cluster-transport'

/** How often a takeover in progress looks at the previous owner's breaker and registration. */
const WATCH_MS = 100
/**
 * How long a takeover waits for the probe of a registered previous owner whose breaker is open:
 * past the breaker's open time (1 s by default) and one connection attempt.
 */
const PROBE_WAIT_MS = 1_500

/** The previous owner cannot be reached: the takeover falls back to what etcd saved. */
export const UNREACHABLE: unique symbol = Symbol('unreachable previous owner')

/**
 * Runs a takeover call to a session's previous owner, or gives up on it as soon as that owner is
 * known to be out of reach: its peer's circuit breaker is open, the call failed because it could
 * not connect (`PeerUnavailable`), or its registration vanished (its lease expired: it is dead or
 * cut off from etcd). Without this a takeover waited for the transport's tries (3 × 10 s) against a
 * partitioned or dead but still registered node. Any other failure (a refused epoch, a protocol
 * error) rejects as before. The claim already fences the old owner by its epoch. An owner that
 * answers after all, once given up on, surrendered its state for nothing: `late` gets it.
 */
export async function unlessUnreachable<T>(
  peer: Peer,
  isMember: () => boolean,
  call: () => Promise<T>,
  late: (value: T) => void,
): Promise<T | typeof UNREACHABLE> {
  if (!isMember()) return UNREACHABLE
  // An owner back from an outage within its lease (a restart) is registered while this node's
  // breaker to it, opened by the outage, still fails fast: taken as unreachable, it kept holding
  // the session (and queueing publishes for it) while this node resumed it from etcd, and handed
  // those on at its next start, twice over (chaos seed 282451171: 107 QoS 2 duplicates). The
  // breaker's next probe tells.
  if (peer.state.breaker === 'open' && !(await probed(peer, isMember))) return UNREACHABLE
  let timer: NodeJS.Timeout | undefined
  const gone = new Promise<typeof UNREACHABLE>((resolve) => {
    timer = setInterval(() => {
      if (peer.state.breaker === 'open' || !isMember()) resolve(UNREACHABLE)
    }, WATCH_MS)
  })
  const attempt: Promise<T | typeof UNREACHABLE> = call().catch((err: unknown) => {
    if (err instanceof TransportError && err.code === TransportErrorCode.PeerUnavailable) return UNREACHABLE
    throw err
  })
  try {
    const outcome = await Promise.race([attempt, gone])
    if (outcome === UNREACHABLE) {
      attempt.then(
        (value) => {
          if (value !== UNREACHABLE) late(value)
        },
        () => undefined,
      )
    }
    return outcome
  } finally {
    clearInterval(timer)
  }
}

/** Whether `peer`'s open breaker lets calls through again (its probe is due or succeeded) within PROBE_WAIT_MS, the owner still registered. */
async function probed(peer: Peer, isMember: () => boolean): Promise<boolean> {
  const deadline = Date.now() + PROBE_WAIT_MS
  while (Date.now() < deadline) {
    await sleep(WATCH_MS)
    if (!isMember()) return false
    if (peer.state.breaker !== 'open') return true
  }
  return false
}
