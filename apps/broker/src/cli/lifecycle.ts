import type { Logger as PinoLogger } from 'pino'
import type { RunningBroker } from '../app.js'

export const ExitCode = { Ok: 0, Failure: 1, Usage: 2 } as const

/** What the lifecycle needs from the process (the real one, or a test double). */
export interface ProcessHost {
  on(event: 'SIGTERM' | 'SIGINT' | 'SIGHUP', listener: (signal: NodeJS.Signals) => void): unknown
  on(event: 'uncaughtException' | 'unhandledRejection', listener: (error: unknown) => void): unknown
  exit(code: number): void
}

/**
 * Process-level behaviour of a broker, installed before start-up begins so that a signal that
 * arrives while listeners are still binding is not lost. SIGTERM/SIGINT: graceful close (at once,
 * or as soon as start-up finishes), exit 0; exit 1 when it has not finished within
 * server.shutdown_timeout, counted from the signal; a second signal exits 1 at once. An uncaught
 * exception or unhandled rejection is logged and ends the process with 1: the broker's state can no
 * longer be trusted.
 */
export class Lifecycle {
  private broker: RunningBroker | undefined
  private signal: NodeJS.Signals | undefined

  constructor(
    private readonly logger: PinoLogger,
    private readonly shutdownTimeoutMs: number,
    private readonly host: ProcessHost = process,
  ) {
    const onSignal = (signal: NodeJS.Signals): void => this.onSignal(signal)
    host.on('SIGTERM', onSignal)
    host.on('SIGINT', onSignal)
    // SIGHUP reloads the auth files, as Mosquitto does; without a handler it would end the process.
    host.on('SIGHUP', () => this.reload())
    host.on('uncaughtException', (error) => this.fatal('uncaught exception', error))
    host.on('unhandledRejection', (reason) => this.fatal('unhandled promise rejection', reason))
  }

  /** Start-up finished: the broker is serving (or is stopped now, if a signal came meanwhile). */
  started(broker: RunningBroker): void {
    this.broker = broker
    if (this.signal !== undefined) this.stop(broker)
  }

  private reload(): void {
    if (this.broker === undefined || this.signal !== undefined) {
      this.logger.warn({}, 'SIGHUP ignored: the broker is starting or stopping')
      return
    }
    try {
      const reloaded = this.broker.reload()
      this.logger.info({ reloaded }, reloaded.length === 0 ? 'SIGHUP: no auth files configured, nothing to reload' : `SIGHUP: reloaded ${reloaded.join(', ')}`)
    } catch (error) {
      this.logger.error({ err: error }, 'SIGHUP: reload failed, the previous auth files stay in force')
    }
  }

  private onSignal(signal: NodeJS.Signals): void {
    if (this.signal !== undefined) {
      this.exitAfter(ExitCode.Failure, () => this.logger.warn({ signal }, 'second signal during shutdown: exiting now'))
      return
    }
    this.signal = signal
    this.logger.info({ signal, timeoutMs: this.shutdownTimeoutMs }, 'signal received: shutting down')
    // unref: when everything has closed the process may end on its own before the deadline.
    setTimeout(() => {
      this.exitAfter(ExitCode.Failure, () => this.logger.error({ timeoutMs: this.shutdownTimeoutMs }, 'shutdown did not finish within server.shutdown_timeout: forcing exit'))
    }, this.shutdownTimeoutMs).unref()
    if (this.broker !== undefined) this.stop(this.broker)
  }

  private stop(broker: RunningBroker): void {
    broker.close().then(
      () => this.host.exit(ExitCode.Ok),
      (error: unknown) => this.exitAfter(ExitCode.Failure, () => this.logger.error({ err: error }, 'shutdown failed')),
    )
  }

  private fatal(what: string, error: unknown): void {
    this.exitAfter(ExitCode.Failure, () => this.logger.fatal({ err: error }, what))
  }

  /**
   * The forced exits (second signal, timeout, crash) must happen even when logging throws (a
   * stdout that fails with something other than EPIPE): the exit is in a finally.
   */
  private exitAfter(code: number, log: () => void): void {
    try {
      log()
    } finally {
      this.host.exit(code)
    }
  }
}
