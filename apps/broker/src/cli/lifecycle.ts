import type { Serving } from './main.js'
import { ExitCode } from './main.js'

/**
 * Process-level behaviour of a running broker. SIGTERM/SIGINT: graceful close, exit 0, or exit 1
 * when it has not finished within server.shutdown_timeout (a second signal forces it at once).
 * An uncaught exception or unhandled rejection is logged and ends the process with 1: the broker's
 * state can no longer be trusted.
 */
export interface ProcessHost {
  on(event: 'SIGTERM' | 'SIGINT', listener: (signal: NodeJS.Signals) => void): unknown
  on(event: 'uncaughtException' | 'unhandledRejection', listener: (error: unknown) => void): unknown
  exit(code: number): void
}

export function runUntilSignal({ broker, logger, config }: Serving, host: ProcessHost = process): void {
  const exit = (code: number): void => host.exit(code)
  let shuttingDown = false
  const shutdown = (signal: NodeJS.Signals): void => {
    if (shuttingDown) {
      logger.warn({ signal }, 'second signal during shutdown: exiting now')
      exit(ExitCode.Failure)
      return
    }
    shuttingDown = true
    logger.info({ signal, timeoutMs: config.server.shutdown_timeout }, 'signal received: shutting down')
    const deadline = setTimeout(() => {
      logger.error({ timeoutMs: config.server.shutdown_timeout }, 'shutdown did not finish within server.shutdown_timeout: forcing exit')
      exit(ExitCode.Failure)
    }, config.server.shutdown_timeout)
    broker.close().then(
      () => {
        clearTimeout(deadline)
        exit(ExitCode.Ok)
      },
      (error: unknown) => {
        clearTimeout(deadline)
        logger.error({ err: error }, 'shutdown failed')
        exit(ExitCode.Failure)
      },
    )
  }
  host.on('SIGTERM', shutdown)
  host.on('SIGINT', shutdown)
  host.on('uncaughtException', (error) => {
    logger.fatal({ err: error }, 'uncaught exception')
    exit(ExitCode.Failure)
  })
  host.on('unhandledRejection', (reason) => {
    logger.fatal({ err: reason }, 'unhandled promise rejection')
    exit(ExitCode.Failure)
  })
}
