/** Time is owned by the composition root; the core only reads it (tests drive it by hand). */
export interface Clock {
  now(): number
}

/** The subset of pino the core and adapters log through: one structured line per event. */
export interface Logger {
  debug(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
  child(bindings: Record<string, unknown>): Logger
}
