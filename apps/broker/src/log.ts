import { destination as fdDestination, pino } from 'pino'
import type { DestinationStream, Logger as PinoLogger } from 'pino'
import pretty from 'pino-pretty'
import type { FluxConfig } from './config/schema.js'

/**
 * The process logger: one line per event, every line bound to this node's id. `text` is for
 * humans at a terminal (pino-pretty, single-line); `json` is for log pipelines; `auto` (the
 * default) picks text when stdout is a terminal and JSON otherwise, as a first run at a terminal
 * should be readable while a service manager or a pipe gets lines a machine can parse. Adapters
 * derive child loggers with the client id.
 *
 * Both formats write stdout synchronously. An asynchronous pino destination is flushed on exit by
 * a synchronous loop that retries EPIPE forever (sonic-boom 4.2), so a broker whose stdout reader
 * had gone (`fluxmq | head`) hung on SIGTERM instead of exiting. Written synchronously, the first
 * EPIPE reaches pino's broken-pipe filter at once and logging simply stops. Lines also stay in
 * order: the signal line no longer overtakes the shutdown lines at exit.
 */
/** Not a key the broker logs under (it logs `{ err }`): keeps pino-pretty from treating `err` apart. */
const TEXT_ERROR_KEY = 'error_object'

/** The format `auto` stands for: text when the process's stdout is a terminal. */
function resolveLogFormat(format: FluxConfig['log']['format'], stdoutIsTty: boolean): 'json' | 'text' {
  if (format !== 'auto') return format
  return stdoutIsTty ? 'text' : 'json'
}

export function createLogger(options: FluxConfig['log'], nodeId: string, destination?: DestinationStream): PinoLogger {
  const base = { base: { node: nodeId }, level: options.level }
  const stdoutIsTty = destination === undefined && process.stdout.isTTY
  if (resolveLogFormat(options.format, stdoutIsTty) === 'text') {
    // pino-pretty prints its error keys (and pino's errorKey) as an indented multi-line block even
    // with singleLine: with none, an error's stack stays inside the line's JSON, "\n" escaped.
    const stream = pretty({ sync: true, singleLine: true, errorLikeObjectKeys: [], colorize: stdoutIsTty, destination: destination ?? 1 })
    return pino({ ...base, errorKey: TEXT_ERROR_KEY }, stream)
  }
  return pino(base, destination ?? fdDestination({ dest: 1, sync: true }))
}
