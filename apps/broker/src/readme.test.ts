import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { configSchema } from './config/schema.js'
import { leafPaths } from './config/section.js'

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')

describe('README', () => {
  it.each(leafPaths(configSchema))('documents %s with its real default', (path, leaf) => {
    const row = readme.split('\n').find((line) => line.startsWith(`| \`${path}\` |`))
    expect(row, `no table row for ${path}`).toBeDefined()
    const cell = /^\| `[^`]+` \| `([^`]*)` \|/.exec(row as string)?.[1]
    expect(cell, `no default in the row of ${path}`).toBeDefined()
    expect(leaf.parse(cell === '""' ? '' : cell)).toEqual(leaf.default)
  })
})
