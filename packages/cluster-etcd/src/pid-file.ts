import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'

/**
 * The pid file an embedded etcd member leaves in its data dir, and the check that a pid read from
 * it still is that member: after a broker is killed its etcd lives on as an orphan, but the pid may
 * as well have been reused by an unrelated process, which must never be signalled.
 */

const PID_FILE = 'fluxmq-etcd.pid'

export function pidFilePath(dataDir: string): string {
  return join(dataDir, PID_FILE)
}

export function writePidFile(dataDir: string, pid: number): void {
  writeFileSync(pidFilePath(dataDir), `${pid}\n`)
}

export function removePidFile(dataDir: string): void {
  rmSync(pidFilePath(dataDir), { force: true })
}

export function readPidFile(dataDir: string): number | undefined {
  let text: string
  try {
    text = readFileSync(pidFilePath(dataDir), 'utf8')
  } catch {
    return undefined
  }
  const pid = Number(text.trim())
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined
}

/** True while `pid` runs (a zombie that nobody reaped yet counts as gone: it holds no ports or files). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    // /proc/<pid>/stat: "pid (comm) S ..."; comm may hold spaces and parentheses, the state follows the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return true
  }
}

/**
 * True when `pid` is an etcd process started on `dataDir` (its command line is read from /proc, so
 * on systems without /proc nothing is ever recognised, and nothing is ever killed).
 */
export function isEtcdOnDataDir(pid: number, binary: string, dataDir: string): boolean {
  let argv: string[]
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
  } catch {
    return false
  }
  const program = argv[0]
  if (program === undefined || basename(program) !== basename(binary)) return false
  return argv.includes(`--data-dir=${dataDir}`)
}
