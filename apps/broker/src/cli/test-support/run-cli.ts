import { PassThrough, Readable } from 'node:stream'
import { main } from '../main.js'

/** Runs one `fluxmq` command line in-process and collects what it wrote and its exit code. */
export async function runCli(argv: string[], options: { stdin?: string; env?: Record<string, string> } = {}) {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  let out = ''
  let err = ''
  stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
  stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk))
  const code = await main(argv, { stdin: Readable.from([options.stdin ?? '']), stdout, stderr, env: options.env ?? {} })
  return { code, out, err }
}
