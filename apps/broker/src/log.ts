import { pino } from 'pino'
import type { DestinationStream, Logger as PinoLogger } from 'pino'
import pretty from 'pino-pretty'
import type { FluxConfig } from './config/schema.js'

/**
 * The process logger: one line per event, every line bound to this node's id. `text` is for
 * humans at a terminal (pino-pretty, written synchronously so nothing is lost on exit); `json` is
 * for log pipelines. Adapters derive child loggers with the client id.
 */
export function createLogger(options: FluxConfig['log'], nodeId: string, destination?: DestinationStream): PinoLogger {
  const base = { base: { node: nodeId }, level: options.level }
  if (options.format === 'text') {
    const stream = pretty({ sync: true, colorize: destination === undefined && process.stdout.isTTY, destination: destination ?? 1 })
    return pino(base, stream)
  }
  return destination === undefined ? pino(base) : pino(base, destination)
}
