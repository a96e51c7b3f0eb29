#!/usr/bin/env node
import { main } from './cli/main.js'

// A finished command sets its exit code; a serving broker's Lifecycle exits on a signal.
const outcome = await main(process.argv.slice(2), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env })
if (typeof outcome === 'number') process.exitCode = outcome
