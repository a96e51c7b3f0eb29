#!/usr/bin/env node
// The whole test suite: system tools the tests use, every package's tests through turbo, and one
// closing line `N passed, N failed, N skipped` summed from each package's own vitest JSON report.
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const forwarded = process.argv.slice(2)
// Output going to a file or a pipe gets no colour codes (turbo and vitest honour NO_COLOR;
// turbo passes it to the tasks through globalPassThroughEnv).
const env = process.stdout.isTTY ? process.env : { ...process.env, NO_COLOR: '1' }

spawnSync('bash', [join(root, 'scripts/ensure-system-deps.sh')], { stdio: 'inherit', env })

function workspacePackages() {
  const dirs = []
  for (const group of ['packages', 'apps']) {
    const base = join(root, group)
    if (!existsSync(base)) continue
    for (const name of readdirSync(base)) dirs.push(join(base, name))
  }
  dirs.push(join(root, 'test'), join(root, 'bench'))
  return dirs.filter((dir) => {
    const file = join(dir, 'package.json')
    if (!existsSync(file)) return false
    return Boolean(JSON.parse(readFileSync(file, 'utf8')).scripts?.test)
  })
}

const packages = workspacePackages()
for (const dir of packages) rmSync(join(dir, '.test-results.json'), { force: true })

// One package at a time: suites start real brokers and use real timers, and two cores shared by
// several vitest pools make timings lie.
const turbo = spawnSync(join(root, 'node_modules/.bin/turbo'), ['run', 'test', '--continue', '--concurrency=1', ...forwarded], {
  cwd: root,
  stdio: 'inherit',
  env,
})

// Static checks gate the run too: each failing lint/typecheck task counts as one failure.
const checks = spawnSync(join(root, 'node_modules/.bin/turbo'), ['run', 'lint', 'typecheck', '--continue', '--output-logs=errors-only'], {
  cwd: root,
  stdio: 'inherit',
  env,
})

let passed = 0
let failed = 0
let skipped = 0
const problems = []
if (checks.status !== 0) {
  failed += 1
  problems.push('lint or typecheck failed (see above)')
}
for (const dir of packages) {
  const name = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name
  const file = join(dir, '.test-results.json')
  if (!existsSync(file)) {
    failed += 1
    problems.push(`${name}: no test report (build or runner failed before tests ran)`)
    continue
  }
  const report = JSON.parse(readFileSync(file, 'utf8'))
  passed += report.numPassedTests
  failed += report.numFailedTests
  skipped += report.numPendingTests + report.numTodoTests
  for (const suite of report.testResults ?? []) {
    const failedInside = (suite.assertionResults ?? []).some((a) => a.status === 'failed')
    if (suite.status === 'failed' && !failedInside) {
      failed += 1
      problems.push(`${name}: ${suite.name} failed to run: ${String(suite.message).split('\n')[0]}`)
    }
  }
  if (report.numTotalTests === 0) problems.push(`${name}: ran no test`)
}

for (const line of problems) console.log(`problem: ${line}`)
if (turbo.status !== 0 && failed === 0) {
  failed += 1
  console.log(`problem: turbo exited with status ${turbo.status} although every report passed`)
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`)
process.exit(failed === 0 ? 0 : 1)
