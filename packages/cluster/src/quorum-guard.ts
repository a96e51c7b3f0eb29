import type { Logger } from '@fluxmq/core'
import { type EtcdConnection, keyspace } from '@fluxmq/cluster-etcd'

type Namespace = EtcdConnection['namespace']

export interface QuorumGuardOptions {
  readonly nodeId: string
  /** How often etcd is probed; a probe not answered within this long counts as failed. */
  readonly intervalMs: number
  readonly logger: Logger
}

/**
 * Whether etcd can answer a linearizable read now (a read the member must confirm with a quorum).
 * Without it no session can be claimed or fenced, so the node refuses new sessions at once, with
 * Server unavailable, instead of letting each CONNECT wait for a call deadline, and /ready says
 * why. The sessions it holds are served on until shortly before its lease could expire (NodeLease
 * decides that, not this probe).
 */
export class QuorumGuard {
  private ok = true
  private failures = 0
  private timer: NodeJS.Timeout | undefined
  private probing = false
  private readonly log: Logger

  constructor(
    private readonly etcd: Namespace,
    private readonly options: QuorumGuardOptions,
  ) {
    this.log = options.logger.child({ component: 'quorum-guard', nodeId: options.nodeId })
  }

  /** False since two probes in a row failed, until one succeeds again. */
  get quorate(): boolean {
    return this.ok
  }

  start(): void {
    this.timer = setInterval(() => void this.probe(), this.options.intervalMs)
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
  }

  private async probe(): Promise<void> {
    if (this.probing) return
    this.probing = true
    let timeout: NodeJS.Timeout | undefined
    try {
      await Promise.race([
        this.etcd.get(keyspace.LEADER).exec(),
        new Promise((_, reject) => {
          timeout = setTimeout(() => reject(new Error(`no answer within ${this.options.intervalMs} ms`)), this.options.intervalMs)
        }),
      ])
      if (!this.ok) this.log.info({}, 'etcd quorum is back, accepting new sessions')
      this.ok = true
      this.failures = 0
    } catch (err) {
      // Two in a row: one slow answer on a loaded machine is not a lost quorum.
      this.failures += 1
      if (this.ok && this.failures >= 2) {
        this.log.error({ err }, 'etcd has no quorum or does not answer, refusing new sessions')
        this.ok = false
      }
    } finally {
      clearTimeout(timeout)
      this.probing = false
    }
  }
}
