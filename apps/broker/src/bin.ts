#!/usr/bin/env node
import { runUntilSignal } from './cli/lifecycle.js'
import { main } from './cli/main.js'

const outcome = await main(process.argv.slice(2), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env })
if (typeof outcome === 'number') process.exitCode = outcome
else runUntilSignal(outcome)
