import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

/** The built command, as users run it. Tests run after `build` (turbo's test task depends on it). */
export const BIN = fileURLToPath(new URL('../../dist/bin.js', import.meta.url))

export interface LogLine {
  readonly level: number
  readonly msg: string
  readonly [key: string]: unknown
}

export interface RunningProcess {
  readonly child: ChildProcess
  readonly lines: LogLine[]
  readonly stderr: () => string
  /** Resolves with the first log line (already seen or future) that satisfies `test`. */
  waitForLog(test: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>
  /** Resolves with the exit code (or the signal name). */
  readonly exited: Promise<number | string>
}

export interface StartedBroker extends RunningProcess {
  /** Bound ports by listener name, read from the "listening" log lines. */
  readonly ports: Readonly<Record<string, number>>
}

/** Runs `fluxmq` with arguments; collects JSON log lines from stdout. */
export function runFluxmq(args: readonly string[], options: { env?: Record<string, string>; stdin?: string } = {}): RunningProcess {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: build @fluxmq/broker first (pnpm exec turbo run build --filter=@fluxmq/broker...)`)
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH ?? '', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  const lines: LogLine[] = []
  const waiters: Array<{ test: (line: LogLine) => boolean; resolve: (line: LogLine) => void }> = []
  let stderr = ''
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: LogLine
    try {
      line = JSON.parse(text) as LogLine
    } catch {
      line = { level: 0, msg: text }
    }
    lines.push(line)
    for (const waiter of [...waiters]) {
      if (waiter.test(line)) {
        waiters.splice(waiters.indexOf(waiter), 1)
        waiter.resolve(line)
      }
    }
  })
  if (options.stdin !== undefined) child.stdin?.end(options.stdin)
  else child.stdin?.end()
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')))
  const waitForLog = (test: (line: LogLine) => boolean, timeoutMs = 30_000): Promise<LogLine> => {
    const seen = lines.find(test)
    if (seen !== undefined) return Promise.resolve(seen)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching log line within ${timeoutMs} ms; stderr: ${stderr}; log: ${JSON.stringify(lines)}`)), timeoutMs)
      const done = (line: LogLine): void => {
        clearTimeout(timer)
        resolve(line)
      }
      waiters.push({ test, resolve: done })
      void exited.then((code) => {
        clearTimeout(timer)
        reject(new Error(`fluxmq exited (${code}) before the expected log line; stderr: ${stderr}; log: ${JSON.stringify(lines)}`))
      })
    })
  }
  return { child, lines, stderr: () => stderr, waitForLog, exited }
}

/** Every listener on 127.0.0.1 port 0 (AMQP off: not in this build). */
export const LOOPBACK_SETS = ['server.mqtt.tcp.addr=127.0.0.1:0', 'server.mqtt.websocket.addr=127.0.0.1:0', 'server.http.addr=127.0.0.1:0', 'server.amqp.addr=']

/** LOOPBACK_SETS as command-line arguments; `extra` arguments given after them win. */
export const LOOPBACK_ARGS = LOOPBACK_SETS.flatMap((set) => ['--set', set])

export async function startFluxmq(extra: readonly string[] = [], env: Record<string, string> = {}): Promise<StartedBroker> {
  const running = runFluxmq([...LOOPBACK_ARGS, ...extra], { env })
  await running.waitForLog((line) => line.msg === 'fluxmq started')
  const ports: Record<string, number> = {}
  for (const line of running.lines) {
    if (typeof line.listener === 'string' && typeof line.port === 'number') ports[line.listener] = line.port
  }
  return { ...running, ports }
}

/** Sends `signal` and waits for the exit; kills it if it has not gone after `timeoutMs`. */
export async function stopFluxmq(running: RunningProcess, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<number | string> {
  if (running.child.exitCode !== null || running.child.signalCode !== null) return running.exited
  running.child.kill(signal)
  const timer = setTimeout(() => running.child.kill('SIGKILL'), timeoutMs)
  const code = await running.exited
  clearTimeout(timer)
  return code
}
