import type { Logger } from '@fluxmq/core'

/** The default when no logger is given: the transport logs nothing. */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
}
