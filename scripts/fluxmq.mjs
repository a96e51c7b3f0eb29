#!/usr/bin/env node
// `pnpm fluxmq ARGS…` (and `pnpm start`): the fluxmq command run from the repository. It builds
// the broker and what it depends on first (turbo's cache makes that a second when nothing
// changed), printing the build's output only when it fails, so that the command's own output
// (`pnpm fluxmq ctl sessions`, `--help`) is all there is; then it runs in this same process, so
// signals reach the broker directly.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const build = spawnSync(fileURLToPath(new URL('../node_modules/.bin/turbo', import.meta.url)), ['run', 'build', '--filter=@fluxmq/broker...', '--output-logs=errors-only'], {
  cwd: root,
  encoding: 'utf8',
  stdio: ['ignore', 'pipe', 'pipe'],
})
if (build.status !== 0) {
  process.stderr.write(`${build.stdout ?? ''}${build.stderr ?? ''}fluxmq: building the broker failed${build.error ? `: ${build.error.message}` : ''}\n`)
  process.exit(1)
}
await import(new URL('../apps/broker/bin/fluxmq.js', import.meta.url).href)
