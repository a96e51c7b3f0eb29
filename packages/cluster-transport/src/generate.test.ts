import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

describe('generated code', () => {
  it('src/gen is exactly what buf generates from proto/ (run `pnpm generate` after a proto change)', () => {
    const script = fileURLToPath(new URL('../scripts/generate.mjs', import.meta.url))
    const run = spawnSync(process.execPath, [script, '--check'], { encoding: 'utf8', timeout: 60_000 })
    expect(run.stderr).toBe('')
    expect(run.status).toBe(0)
  }, 70_000)
})
