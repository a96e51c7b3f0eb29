#!/usr/bin/env node
import { main } from './cli/main.js'

// A reader that went away (`fluxmq --help | head -1`, a log pipe that died) is not the command's
// failure: without a listener the EPIPE 'error' would be an uncaught exception. The logger
// writes the descriptor itself and stops at its own EPIPE (see log.ts).
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error
  })
}

// A finished command sets its exit code; a serving broker's Lifecycle exits on a signal.
const outcome = await main(process.argv.slice(2), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env })
if (typeof outcome === 'number') process.exitCode = outcome
