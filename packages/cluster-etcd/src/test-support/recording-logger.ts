import type { Logger } from '@fluxmq/core'

export interface LogRecord {
  readonly level: 'debug' | 'info' | 'warn' | 'error'
  readonly fields: Record<string, unknown>
  readonly msg: string
}

/** A Logger that keeps every line (with its child bindings merged in) for assertions. */
export class RecordingLogger implements Logger {
  constructor(
    readonly records: LogRecord[] = [],
    private readonly bindings: Record<string, unknown> = {},
  ) {}

  debug(obj: object, msg = ''): void {
    this.add('debug', obj, msg)
  }
  info(obj: object, msg = ''): void {
    this.add('info', obj, msg)
  }
  warn(obj: object, msg = ''): void {
    this.add('warn', obj, msg)
  }
  error(obj: object, msg = ''): void {
    this.add('error', obj, msg)
  }
  child(bindings: Record<string, unknown>): Logger {
    return new RecordingLogger(this.records, { ...this.bindings, ...bindings })
  }

  has(msg: string): boolean {
    return this.records.some((record) => record.msg === msg)
  }

  private add(level: LogRecord['level'], obj: object, msg: string): void {
    this.records.push({ level, fields: { ...this.bindings, ...obj }, msg })
  }
}
