#!/usr/bin/env node
// `pnpm fluxmq ARGS…` (and `pnpm start`): the fluxmq command run from the repository. It builds
// the broker and what it depends on first (turbo's cache makes that a second when nothing
// changed), printing the build's output only when it fails, so that the command's own output
// (`pnpm fluxmq ctl sessions`, `--help`) is all there is; then it runs in this same process, so
// signals reach the broker directly.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const turbo = fileURLToPath(new URL('../node_modules/.bin/turbo', import.meta.url))
/** A build that takes longer than this is a real one (a first run, changed sources): say so. */
const NOTICE_AFTER_MS = 2000

const build = spawn(turbo, ['run', 'build', '--filter=@fluxmq/broker...', '--output-logs=errors-only'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
let output = ''
build.stdout.setEncoding('utf8').on('data', (chunk) => (output += chunk))
build.stderr.setEncoding('utf8').on('data', (chunk) => (output += chunk))
const notice = setTimeout(() => process.stderr.write('fluxmq: building the broker from the sources first (a minute or two the first time)...\n'), NOTICE_AFTER_MS)
const status = await new Promise((resolve) => {
  build.once('error', (error) => resolve(error.message))
  build.once('close', (code) => resolve(code))
})
clearTimeout(notice)
if (status !== 0) {
  process.stderr.write(`${output}fluxmq: building the broker failed${typeof status === 'string' ? `: ${status}` : ''}\n`)
  process.exit(1)
}
await import(new URL('../apps/broker/bin/fluxmq.js', import.meta.url).href)
