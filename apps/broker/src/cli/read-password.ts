import type { Readable, Writable } from 'node:stream'
import { UsageError } from './args.js'

/** A terminal's stdin: what hidden input needs beyond a Readable. */
interface TtyInput extends Readable {
  readonly isTTY?: boolean
  setRawMode?(mode: boolean): unknown
}

/** The first line of a piped stdin (`echo secret | fluxmq passwd ...`), without its line ending. */
async function readFirstLine(input: Readable): Promise<string> {
  let text = ''
  for await (const chunk of input) {
    text += String(chunk)
    if (text.includes('\n')) break
  }
  return text.split(/\r?\n/)[0] ?? ''
}

/** One line typed at a terminal without echoing it; Ctrl-C or Ctrl-D abort. */
function readHidden(input: TtyInput, prompt: string, output: Writable): Promise<string> {
  output.write(prompt)
  input.setRawMode?.(true)
  input.resume()
  return new Promise((resolve, reject) => {
    let line = ''
    const finish = (error?: Error): void => {
      input.off('data', onData)
      input.setRawMode?.(false)
      input.pause()
      output.write('\n')
      if (error === undefined) resolve(line)
      else reject(error)
    }
    const onData = (chunk: Buffer): void => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\r' || char === '\n') return finish()
        if (char === '\u0003' || char === '\u0004') return finish(new UsageError('aborted'))
        if (char === '\u007f' || char === '\b') line = line.slice(0, -1)
        else line += char
      }
    }
    input.on('data', onData)
  })
}

/** The new password: typed twice at a terminal, or the first line of piped input. */
export async function readNewPassword(input: TtyInput, output: Writable): Promise<string> {
  if (input.isTTY !== true) return readFirstLine(input)
  const first = await readHidden(input, 'Password: ', output)
  const second = await readHidden(input, 'Repeat password: ', output)
  if (first !== second) throw new UsageError('the passwords do not match')
  return first
}
