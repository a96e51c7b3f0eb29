#!/usr/bin/env node
// `pnpm generate`: runs `buf generate` (the repository's buf.gen.yaml, protoc-gen-es from this
// package) so src/gen holds exactly what proto/ describes. `--check` generates into a temporary
// directory instead and exits 1, naming the files, when src/gen differs: the drift check that the
// package's tests run. Offline: buf, the plugin and the inputs are all local.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const packageDir = fileURLToPath(new URL('..', import.meta.url))
const root = join(packageDir, '../..')
const genDir = join(packageDir, 'src/gen')
const check = process.argv.includes('--check')

function generate(outputBase) {
  const env = { ...process.env, PATH: [join(packageDir, 'node_modules/.bin'), process.env.PATH].join(delimiter) }
  const args = ['generate', ...(outputBase === undefined ? [] : ['--output', outputBase])]
  const run = spawnSync(join(root, 'node_modules/.bin/buf'), args, { cwd: root, env, encoding: 'utf8' })
  if (run.status !== 0) {
    process.stderr.write(run.stderr || run.error?.message || `buf exited with ${run.status}\n`)
    process.exit(2)
  }
}

function files(dir) {
  const out = new Map()
  const walk = (at) => {
    for (const name of readdirSync(at)) {
      const path = join(at, name)
      if (statSync(path).isDirectory()) walk(path)
      else out.set(relative(dir, path), readFileSync(path))
    }
  }
  walk(dir)
  return out
}

if (!check) {
  generate(undefined)
  process.exit(0)
}

const temp = mkdtempSync(join(tmpdir(), 'fluxmq-gen-'))
try {
  generate(temp)
  const fresh = files(join(temp, relative(root, genDir)))
  const committed = files(genDir)
  const drift = [...new Set([...fresh.keys(), ...committed.keys()])].filter((name) => {
    const a = fresh.get(name)
    const b = committed.get(name)
    return a === undefined || b === undefined || !a.equals(b)
  })
  if (drift.length > 0) {
    process.stderr.write(`src/gen is out of date with proto/ (run pnpm generate): ${drift.sort().join(', ')}\n`)
    process.exit(1)
  }
} finally {
  rmSync(temp, { recursive: true, force: true })
}
