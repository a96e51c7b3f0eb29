import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { LogLines, parseLogLine } from './log-lines.js'
import type { LogLine, LogTest } from './log-lines.js'

/** How a process ended: its exit code, or the signal that killed it. */
export type ExitStatus = number | NodeJS.Signals

export interface SpawnOptions {
  /** The fluxmq entry script (a `bin` of @fluxmq/broker); run with this Node binary. */
  readonly bin: string
  readonly args?: readonly string[]
  /** The child's whole environment besides PATH: nothing leaks in from the test runner's. */
  readonly env?: Readonly<Record<string, string>>
  readonly cwd?: string
  /** Written to stdin, which is then closed; stdin is closed at once without it. */
  readonly stdin?: string
}

/** Bound port per listener name, from the log lines that carry `listener` and `port`. */
export type ListenerPorts = Readonly<Record<string, number>>

/**
 * A running fluxmq process: its JSON log lines from stdout, its stderr, its exit. The process is
 * never left behind by accident: `stop` escalates to SIGKILL after a timeout.
 */
export class FluxmqProcess {
  readonly log: LogLines
  readonly exited: Promise<ExitStatus>
  private stderrText = ''
  private status: ExitStatus | undefined

  constructor(readonly child: ChildProcess) {
    this.log = new LogLines(() => (this.stderrText === '' ? '' : `\nstderr: ${this.stderrText}`))
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (this.stderrText += chunk))
    const stdoutDone = new Promise<void>((resolve) => {
      if (child.stdout === null) return resolve()
      createInterface({ input: child.stdout }).on('line', (text) => this.log.push(parseLogLine(text))).on('close', resolve)
      // A test that destroys stdout (a reader that went away) gets no 'end', so readline never closes.
      child.stdout.once('close', resolve)
    })
    // 'exit' can come before the last stdout lines are read: wait for both, so a test that awaits
    // the exit sees every line the process wrote.
    const exit = new Promise<ExitStatus>((resolve) => {
      child.once('exit', (code, signal) => resolve(code ?? signal ?? 'SIGKILL'))
      child.once('error', () => resolve(1))
    })
    this.exited = Promise.all([exit, stdoutDone]).then(([status]) => {
      this.status = status
      this.log.end(`fluxmq exited (${status})`)
      return status
    })
  }

  get pid(): number | undefined {
    return this.child.pid
  }

  get lines(): readonly LogLine[] {
    return this.log.lines
  }

  get stderr(): string {
    return this.stderrText
  }

  /** Undefined while running. */
  get exitStatus(): ExitStatus | undefined {
    return this.status
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  /** The first line seen so far that passes `test` (a string compares `msg`). */
  find(test: LogTest): LogLine | undefined {
    return this.log.find(test)
  }

  waitForLog(test: LogTest, timeoutMs?: number): Promise<LogLine> {
    return this.log.waitFor(test, timeoutMs)
  }

  get ports(): ListenerPorts {
    const ports: Record<string, number> = {}
    for (const line of this.log.lines) {
      if (typeof line.listener === 'string' && typeof line.port === 'number') ports[line.listener] = line.port
    }
    return ports
  }

  /** The bound port of `listener`; throws when that listener did not log one. */
  port(listener: string): number {
    const port = this.ports[listener]
    if (port === undefined) throw new Error(`fluxmq logged no port for listener ${listener}; it has ${JSON.stringify(this.ports)}`)
    return port
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal)
  }

  /** Sends `signal` and waits for the exit; SIGKILL follows when it has not gone after `timeoutMs`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<ExitStatus> {
    if (!this.running) return this.exited
    this.child.kill(signal)
    const escalate = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs)
    try {
      return await this.exited
    } finally {
      clearTimeout(escalate)
    }
  }
}

export function spawnFluxmq(options: SpawnOptions): FluxmqProcess {
  if (!existsSync(options.bin)) {
    throw new Error(`${options.bin} is missing: build @fluxmq/broker first (pnpm exec turbo run build --filter=@fluxmq/broker...)`)
  }
  const child = spawn(process.execPath, [options.bin, ...(options.args ?? [])], {
    env: { PATH: process.env.PATH ?? '', ...options.env },
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  child.stdin?.end(options.stdin)
  return new FluxmqProcess(child)
}
