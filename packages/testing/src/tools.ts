import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { withTimeout } from './deadline.js'
import type { ExitStatus } from './process.js'

export interface ToolResult {
  readonly status: ExitStatus
  readonly stdout: string
  readonly stderr: string
}

function exitOf(child: ChildProcess): Promise<ExitStatus> {
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code, signal) => resolve(code ?? signal ?? 'SIGKILL'))
  })
}

/**
 * Runs a command line tool to its end. A tool still running after `timeoutMs` is killed and the
 * promise rejects naming the command.
 */
export async function runTool(command: string, args: readonly string[], options: { timeoutMs?: number; stdin?: string } = {}): Promise<ToolResult> {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  child.stdin.end(options.stdin)
  const timeoutMs = options.timeoutMs ?? 10_000
  try {
    const status = await withTimeout(exitOf(child), timeoutMs, () => `${command} ${args.join(' ')} (stdout: ${stdout}, stderr: ${stderr})`)
    return { status, stdout, stderr }
  } catch (error) {
    child.kill('SIGKILL')
    throw error
  }
}

/** `mosquitto_pub` with the given arguments (add `-h 127.0.0.1 -p <port>`). */
export function mosquittoPub(args: readonly string[], timeoutMs = 10_000): Promise<ToolResult> {
  return runTool('mosquitto_pub', args, { timeoutMs })
}

// mosquitto_sub -d writes its protocol trace to stdout between the messages; these are its lines.
const TRACE = /^(Client \S+ (sending|received) [A-Z]+|Subscribed \(mid: \d+\)|Unsubscribed \(mid: \d+\))/

/**
 * A running `mosquitto_sub`. It is started with `-d` so the harness can see the SUBACK; trace
 * lines are kept apart from message lines (a message whose text looks like a trace line would be
 * misfiled: tests do not publish such text).
 */
export class MosquittoSub {
  readonly messages: string[] = []
  readonly trace: string[] = []
  readonly exited: Promise<ExitStatus>
  private stderrText = ''
  private readonly changed = new Set<() => void>()

  constructor(private readonly child: ChildProcess) {
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (this.stderrText += chunk))
    const stdoutDone = new Promise<void>((resolve) => {
      if (child.stdout === null) return resolve()
      createInterface({ input: child.stdout })
        .on('line', (line) => {
          ;(TRACE.test(line) ? this.trace : this.messages).push(line)
          for (const listener of this.changed) listener()
        })
        .on('close', resolve)
    })
    this.exited = Promise.all([exitOf(child), stdoutDone]).then(([status]) => status)
  }

  get stderr(): string {
    return this.stderrText
  }

  /** Resolves once the broker answered the SUBSCRIBE (the trace shows the SUBACK). */
  subscribed(timeoutMs = 10_000): Promise<void> {
    return this.until(() => this.trace.some((line) => / received SUBACK/.test(line)), timeoutMs, 'SUBACK')
  }

  /** Resolves with the first `count` message lines. */
  async waitForMessages(count: number, timeoutMs = 10_000): Promise<string[]> {
    await this.until(() => this.messages.length >= count, timeoutMs, `${count} message lines`)
    return this.messages.slice(0, count)
  }

  /** SIGTERM (mosquitto_sub disconnects cleanly on it) and wait for the exit. */
  async stop(): Promise<ExitStatus> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM')
    return this.exited
  }

  private until(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (done()) return Promise.resolve()
    let listener: () => void = () => undefined
    const reached = new Promise<void>((resolve, reject) => {
      listener = () => {
        if (done()) resolve()
      }
      this.changed.add(listener)
      void this.exited.then((status) => reject(new Error(`mosquitto_sub exited (${status}) before ${what}; stderr: ${this.stderrText}; output: ${[...this.trace, ...this.messages].join('\n')}`)))
    })
    return withTimeout(reached, timeoutMs, () => `mosquitto_sub: ${what}; output so far: ${this.messages.join(' | ')}`).finally(() => this.changed.delete(listener))
  }
}

/** Starts `mosquitto_sub -d` with the given arguments (add `-h`, `-p`, `-t`, `-V`...). */
export function mosquittoSub(args: readonly string[]): MosquittoSub {
  // mosquitto_sub flushes after each message but not after its -d trace: line-buffer stdout so
  // the SUBACK line arrives when it happens, not at exit.
  return new MosquittoSub(spawn('stdbuf', ['-oL', 'mosquitto_sub', '-d', ...args], { stdio: ['ignore', 'pipe', 'pipe'] }))
}
