import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { QueueEngine } from './engine.js'
import { QueueErrorCode } from './errors.js'

const child = fileURLToPath(new URL('./test-support/disk-full-writer.mjs', import.meta.url))
let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fluxmq-queue-full-'))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

describe('QueueEngine: a failed commit', () => {
  it('rejects the durable promise, stops the engine, is logged once, and keeps what committed before', () => {
    if (!existsSync(fileURLToPath(new URL('../dist/index.js', import.meta.url)))) {
      throw new Error('the commit-failure test runs the built package: run `pnpm build` first')
    }
    // A real write failure: the files may not grow past 400 KiB (RLIMIT_FSIZE).
    const output = execFileSync('bash', ['-c', 'ulimit -f 400 && exec "$0" "$@"', process.execPath, child, dir], { encoding: 'utf8', timeout: 60_000 })
    const report = JSON.parse(output) as { durableAppends: number; rejected: string; failure: string; later: string; logged: { code: string }[] }
    expect(report).toMatchObject({ rejected: QueueErrorCode.Commit, failure: QueueErrorCode.Commit, later: QueueErrorCode.Commit })
    expect(report.logged).toEqual([{ code: QueueErrorCode.Commit, msg: 'queue commit failed' }])
    expect(report.durableAppends).toBeGreaterThan(10)
    const engine = QueueEngine.open({ dir, clock: { now: () => Date.now() }, deliver: () => undefined, schedule: () => undefined })
    try {
      expect(engine.stats('q')?.depth).toBeGreaterThanOrEqual(report.durableAppends)
    } finally {
      engine.close()
    }
  })
})
