import type { Schedule } from '@fluxmq/queue'

/**
 * When the queue engine's writes commit, in the broker: at the end of the turn that staged the
 * first of them (the engine's default), unless the previous commit began less than `intervalMs`
 * ago, then once the interval is over. An idle broker commits at once; a busy one commits at
 * most every `intervalMs` and each commit carries more appends and acks, where a commit's own
 * cost (its WAL frames, each two `pwrite` calls) is most of what it costs. Durability is
 * unchanged: a PUBACK still waits for the commit that holds its message or ack.
 */
export function spacedCommits(intervalMs: number, now: () => number = () => performance.now()): Schedule {
  let last = Number.NEGATIVE_INFINITY
  return (flush) => {
    const run = (): void => {
      last = now()
      flush()
    }
    const wait = last + intervalMs - now()
    if (wait <= 0) setImmediate(run)
    else setTimeout(run, Math.ceil(wait))
  }
}
