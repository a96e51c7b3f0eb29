/** One line fluxmq wrote to stdout: a pino JSON object, or `{ level: 0, msg: text }` for anything else. */
export interface LogLine {
  readonly level: number
  readonly msg: string
  readonly [key: string]: unknown
}

export type LogTest = string | ((line: LogLine) => boolean)

export function parseLogLine(text: string): LogLine {
  try {
    const parsed: unknown = JSON.parse(text)
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
      const record = parsed as Record<string, unknown>
      return { ...record, level: typeof record.level === 'number' ? record.level : 0, msg: typeof record.msg === 'string' ? record.msg : '' }
    }
  } catch {
    // Not JSON (a text-format logger or a stray print): kept as a plain message below.
  }
  return { level: 0, msg: text }
}

function matcher(test: LogTest): (line: LogLine) => boolean {
  return typeof test === 'string' ? (line) => line.msg === test : test
}

interface Waiter {
  readonly test: (line: LogLine) => boolean
  readonly resolve: (line: LogLine) => void
  readonly reject: (error: Error) => void
  readonly timer: NodeJS.Timeout
}

/**
 * Every log line of one process, in order, and promises for lines still to come. Once the source
 * has ended (`end`), waiting for a line that has not been seen fails at once instead of timing out.
 */
export class LogLines {
  readonly lines: LogLine[] = []
  private readonly waiters = new Set<Waiter>()
  private ended: string | undefined

  constructor(private readonly describe: () => string = () => '') {}

  push(line: LogLine): void {
    this.lines.push(line)
    for (const waiter of this.waiters) {
      if (!waiter.test(line)) continue
      this.waiters.delete(waiter)
      clearTimeout(waiter.timer)
      waiter.resolve(line)
    }
  }

  /** No more lines will come (`why` goes into the error of every pending and later wait). */
  end(why: string): void {
    this.ended = why
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer)
      waiter.reject(this.failure(why))
    }
    this.waiters.clear()
  }

  find(test: LogTest): LogLine | undefined {
    return this.lines.find(matcher(test))
  }

  filter(test: LogTest): LogLine[] {
    return this.lines.filter(matcher(test))
  }

  /** The first line (already seen or future) that passes `test`; a string test compares `msg`. */
  waitFor(test: LogTest, timeoutMs = 10_000): Promise<LogLine> {
    const check = matcher(test)
    const seen = this.lines.find(check)
    if (seen !== undefined) return Promise.resolve(seen)
    if (this.ended !== undefined) return Promise.reject(this.failure(this.ended))
    return new Promise<LogLine>((resolve, reject) => {
      const waiter: Waiter = {
        test: check,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter)
          reject(this.failure(`no matching log line within ${timeoutMs} ms`))
        }, timeoutMs),
      }
      this.waiters.add(waiter)
    })
  }

  private failure(why: string): Error {
    const tail = this.lines.slice(-20).map((line) => JSON.stringify(line))
    return new Error(`${why}${this.describe()}\nlast log lines:\n${tail.join('\n')}`)
  }
}
