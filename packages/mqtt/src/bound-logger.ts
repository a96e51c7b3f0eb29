import type { Logger } from '@fluxmq/core'

/**
 * A per-connection logger that adds its bindings to each line instead of holding a child logger.
 * A pino child costs about 2 KiB per connection (its own prototype, hidden classes and level
 * closures) that an idle connection never uses; lines are rare here (connect, disconnect,
 * errors), so merging the bindings per line is the cheaper side. The output carries the same
 * fields a child would have added.
 *
 * Bindings are merged with Object.assign, not `{ ...a, ...b }`: in Node 20's V8 an object spread
 * after the first gives every result a hidden class of its own (about 150 bytes per connection
 * kept, and one more map per log line).
 */
export class BoundLogger implements Logger {
  constructor(
    private readonly parent: Logger,
    private readonly bindings: Readonly<Record<string, unknown>>,
  ) {}

  debug(obj: object, msg?: string): void {
    this.parent.debug(this.bound(obj), msg)
  }

  info(obj: object, msg?: string): void {
    this.parent.info(this.bound(obj), msg)
  }

  warn(obj: object, msg?: string): void {
    this.parent.warn(this.bound(obj), msg)
  }

  error(obj: object, msg?: string): void {
    this.parent.error(this.bound(obj), msg)
  }

  child(bindings: Record<string, unknown>): Logger {
    return new BoundLogger(this.parent, Object.assign({}, this.bindings, bindings))
  }

  private bound(obj: object): object {
    return Object.assign({}, this.bindings, obj)
  }
}
