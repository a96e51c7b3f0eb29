import type { Logger } from '@fluxmq/core'

/**
 * One line of etcd's output (zap JSON on stderr) as one structured log line. etcd's own info
 * chatter (dozens of lines per start) goes to debug; its warnings and errors keep their level.
 * A line that is not JSON (a Go panic trace) is logged as text at warn, so it is never lost.
 */
export function logEtcdLine(logger: Logger, line: string): void {
  if (line.trim() === '') return
  let entry: Record<string, unknown>
  try {
    entry = JSON.parse(line) as Record<string, unknown>
  } catch {
    logger.warn({ line }, 'etcd output')
    return
  }
  if (typeof entry !== 'object' || entry === null) {
    logger.warn({ line }, 'etcd output')
    return
  }
  const { level, msg, ts: _ts, ...fields } = entry
  const text = typeof msg === 'string' ? msg : 'etcd output'
  switch (level) {
    case 'debug':
    case 'info':
      logger.debug(fields, text)
      return
    case 'error':
    case 'dpanic':
    case 'panic':
    case 'fatal':
      logger.error({ etcdLevel: level, ...fields }, text)
      return
    default:
      logger.warn({ etcdLevel: level, ...fields }, text)
  }
}
