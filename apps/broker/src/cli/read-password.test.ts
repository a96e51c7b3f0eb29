import { PassThrough, Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { UsageError } from './args.js'
import { readNewPassword } from './read-password.js'

/** A stand-in terminal: raw mode is recorded, keystrokes are pushed in by the test. */
function terminal() {
  const input = Object.assign(new PassThrough(), { isTTY: true, modes: [] as boolean[], setRawMode(mode: boolean) {
    this.modes.push(mode)
    return this
  } })
  const output = new PassThrough()
  let shown = ''
  output.setEncoding('utf8').on('data', (chunk: string) => (shown += chunk))
  return { input, output, shown: () => shown }
}

describe('readNewPassword', () => {
  it('reads the first line of piped input', async () => {
    expect(await readNewPassword(Readable.from(['s3cret\r\nrest\n']), new PassThrough())).toBe('s3cret')
  })

  it('asks twice at a terminal without echoing, honouring backspace', async () => {
    const tty = terminal()
    const reading = readNewPassword(tty.input, tty.output)
    tty.input.write('pax\u007fss\r')
    await new Promise((resolve) => setImmediate(resolve))
    tty.input.write('pass\r')
    expect(await reading).toBe('pass')
    expect(tty.shown()).toBe('Password: \nRepeat password: \n')
    expect(tty.input.modes).toEqual([true, false, true, false])
  })

  it('refuses two different passwords', async () => {
    const tty = terminal()
    const reading = readNewPassword(tty.input, tty.output)
    tty.input.write('one\r')
    await new Promise((resolve) => setImmediate(resolve))
    tty.input.write('two\r')
    await expect(reading).rejects.toThrow(new UsageError('the passwords do not match'))
  })

  it('aborts on Ctrl-C', async () => {
    const tty = terminal()
    const reading = readNewPassword(tty.input, tty.output)
    tty.input.write('ab\u0003')
    await expect(reading).rejects.toThrow('aborted')
    expect(tty.input.modes).toEqual([true, false])
  })
})
