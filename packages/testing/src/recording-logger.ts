/** One line a RecordingLogger kept: its level, its fields with the child bindings merged in, its message. */
export interface RecordedLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error'
  readonly obj: Record<string, unknown>
  readonly msg: string | undefined
}

/**
 * A logger with the core's `Logger` shape that keeps every line (bindings merged), so in-process
 * tests can assert on what was logged. Structural: it needs no import of the core.
 */
export class RecordingLogger {
  constructor(
    readonly lines: RecordedLine[] = [],
    private readonly bindings: Record<string, unknown> = {},
  ) {}
  debug(obj: object, msg?: string): void {
    this.push('debug', obj, msg)
  }
  info(obj: object, msg?: string): void {
    this.push('info', obj, msg)
  }
  warn(obj: object, msg?: string): void {
    this.push('warn', obj, msg)
  }
  error(obj: object, msg?: string): void {
    this.push('error', obj, msg)
  }
  child(bindings: Record<string, unknown>): RecordingLogger {
    return new RecordingLogger(this.lines, { ...this.bindings, ...bindings })
  }
  private push(level: RecordedLine['level'], obj: object, msg: string | undefined): void {
    this.lines.push({ level, obj: { ...this.bindings, ...obj }, msg })
  }
}
