import { describe, expect, it } from 'vitest'
import { LogLines, parseLogLine } from './log-lines.js'

describe('LogLines', () => {
  it('resolves a wait with a line already seen or a later one, by msg or by predicate', async () => {
    const log = new LogLines()
    log.push(parseLogLine('{"level":30,"msg":"one"}'))
    expect((await log.waitFor('one')).level).toBe(30)
    const later = log.waitFor((line) => line.port === 7)
    log.push(parseLogLine('{"level":30,"msg":"two","port":6}'))
    log.push(parseLogLine('{"level":40,"msg":"three","port":7}'))
    expect((await later).msg).toBe('three')
    expect(log.filter((line) => typeof line.port === 'number').map((line) => line.msg)).toEqual(['two', 'three'])
  })

  it('times out naming the wait and showing the last lines', async () => {
    const log = new LogLines(() => '; extra context')
    log.push(parseLogLine('{"level":30,"msg":"seen"}'))
    await expect(log.waitFor('never', 20)).rejects.toThrow(/no matching log line within 20 ms; extra context\nlast log lines:\n.*"seen"/)
  })

  it('fails pending and later waits once the source ended', async () => {
    const log = new LogLines()
    const pending = log.waitFor('never', 60_000)
    log.end('process exited (1)')
    await expect(pending).rejects.toThrow(/^process exited \(1\)/)
    await expect(log.waitFor('still never', 60_000)).rejects.toThrow(/^process exited \(1\)/)
  })

  it('keeps text that is not a JSON object as a level-0 line', () => {
    expect(parseLogLine('hello')).toEqual({ level: 0, msg: 'hello' })
    expect(parseLogLine('[1,2]')).toEqual({ level: 0, msg: '[1,2]' })
    expect(parseLogLine('{"level":"x"}')).toEqual({ level: 0, msg: '' })
  })
})
