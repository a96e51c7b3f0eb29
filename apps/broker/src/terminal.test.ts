import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { LOOPBACK_ARGS, startFluxmq } from '@fluxmq/testing'
import { afterAll, describe, expect, it, vi } from 'vitest'

// A real process under a real pseudo-terminal (util-linux `script`), as a user starts it by hand.
vi.setConfig({ testTimeout: 60_000 })

const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'fluxmq-terminal-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const ANSI = new RegExp(String.raw`\u001b\[[0-9;]*m`, 'g')
const shellQuote = (word: string): string => `'${word.replaceAll("'", `'\\''`)}'`

/**
 * Runs fluxmq on a terminal until its start-up line, then types Ctrl-C (SIGINT through the
 * terminal, as a user stops it); resolves with everything it printed, colour codes removed.
 */
function runOnTerminal(args: readonly string[]): Promise<{ output: string; code: number | null }> {
  const command = ['exec', shellQuote(process.execPath), shellQuote(BIN), ...args.map(shellQuote)].join(' ')
  const terminal = spawn('script', ['-qfec', command, '/dev/null'], { env: { PATH: process.env.PATH ?? '', TERM: 'xterm' }, stdio: ['pipe', 'pipe', 'inherit'] })
  let output = ''
  let interrupted = false
  terminal.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk
    if (!interrupted && output.replace(ANSI, '').includes('fluxmq started')) {
      interrupted = true
      terminal.stdin.write('\u0003')
    }
  })
  const watchdog = setTimeout(() => terminal.kill('SIGKILL'), 30_000)
  return new Promise((resolve) =>
    terminal.once('close', (code) => {
      clearTimeout(watchdog)
      resolve({ output: output.replace(ANSI, ''), code })
    }),
  )
}

describe('log.format auto', () => {
  it('writes readable text lines on a terminal; the start-up line names the absolute SQLite file and every listener', async () => {
    const { output, code } = await runOnTerminal([...LOOPBACK_ARGS, '--set', 'storage.type=sqlite', '--set', `storage.dir=${dir}/./data`])
    expect(code).toBe(0)
    const lines = output.split(/\r?\n/).filter((line) => line !== '')
    for (const line of lines.filter((text) => text !== '^C')) expect(line).toMatch(/^(\^C)?\[\d\d:\d\d:\d\d\.\d{3}\] (INFO|WARN|ERROR): /)
    const started = lines.find((line) => line.includes('INFO: fluxmq started {'))
    expect(started).toBeDefined()
    const fields = JSON.parse((started as string).slice((started as string).indexOf('{'))) as { storagePath: string; listeners: Record<string, string> }
    expect(fields.storagePath).toBe(join(dir, 'data', 'fluxmq.db'))
    expect(Object.keys(fields.listeners).sort()).toEqual(['http', 'mqtt-tcp', 'mqtt-websocket'])
    for (const address of Object.values(fields.listeners)) expect(address).toMatch(/^127\.0\.0\.1:[1-9]\d*$/)
    expect(lines.at(-1)).toMatch(/INFO: stopped /)
  })

  it('writes JSON lines when stdout is not a terminal, the start-up line with the same fields', async () => {
    const { process: broker } = await startFluxmq({ bin: BIN, args: [] })
    const started = broker.find('fluxmq started')
    expect(await broker.stop()).toBe(0)
    expect(started).toMatchObject({ storage: 'memory', listeners: { 'mqtt-tcp': `127.0.0.1:${broker.ports['mqtt-tcp']}`, http: `127.0.0.1:${broker.ports.http}` } })
    expect(started).not.toHaveProperty('storagePath')
  })
})
