import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

// What a fresh clone gives a new user before reading any code: the `fluxmq` command where the
// package manager puts it, and a test command that really runs the tests every time.
const run = promisify(execFile)
const root = fileURLToPath(new URL('../..', import.meta.url))

describe('the fluxmq command', () => {
  it('is linked by the install into node_modules/.bin of a package that depends on @fluxmq/broker, and runs', async () => {
    const version = (JSON.parse(readFileSync(new URL('../../apps/broker/package.json', import.meta.url), 'utf8')) as { version: string }).version
    // The install links the bin before anything is built, so it must not point into dist/.
    const { stdout } = await run(fileURLToPath(new URL('../node_modules/.bin/fluxmq', import.meta.url)), ['--version'])
    expect(stdout).toBe(`fluxmq ${version}\n`)
  })
})

interface DryRunTask {
  readonly taskId: string
  readonly task: string
  readonly cache: { readonly status: string }
  readonly resolvedTaskDefinition: { readonly cache: boolean }
}

describe('the test task', () => {
  it('is never replayed from turbo’s cache, while build stays cached', async () => {
    // turbo's own resolution of every package's tasks (package turbo.json files included).
    const { stdout } = await run(`${root}node_modules/.bin/turbo`, ['run', 'test', '--dry=json'], { cwd: root, maxBuffer: 64 << 20 })
    const tasks = (JSON.parse(stdout) as { tasks: DryRunTask[] }).tasks
    const tests = tasks.filter((task) => task.task === 'test')
    const builds = tasks.filter((task) => task.task === 'build')
    expect(tests.map((task) => task.taskId)).toContain('@fluxmq/integration-tests#test')
    for (const task of tests) {
      expect(task.resolvedTaskDefinition.cache, task.taskId).toBe(false)
      expect(task.cache.status, task.taskId).toBe('MISS')
    }
    expect(builds.length).toBeGreaterThan(0)
    for (const task of builds) expect(task.resolvedTaskDefinition.cache, task.taskId).toBe(true)
  })
})
