#!/usr/bin/env node
// node bench/profile-top.mjs <file.cpuprofile> [frames]: the top frames by self time.
import { readFileSync } from 'node:fs'
import { formatTopFrames, topFrames } from './lib/cpuprofile.mjs'

const [file, limit = '25'] = process.argv.slice(2)
if (!file) {
  console.error('usage: node bench/profile-top.mjs <file.cpuprofile> [frames]')
  process.exit(2)
}
console.log(formatTopFrames(topFrames(JSON.parse(readFileSync(file, 'utf8')), Number(limit))))
