import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { createLogger } from './log.js'

function sink(): { stream: Writable; text: () => string } {
  let text = ''
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString()
      done()
    },
  })
  return { stream, text: () => text }
}

describe('createLogger', () => {
  it('writes one JSON line per event bound to the node id, at the configured level', () => {
    const out = sink()
    const logger = createLogger({ level: 'info', format: 'json' }, 'n7', out.stream)
    logger.debug({}, 'hidden')
    logger.child({ clientId: 'c1' }).info({ listener: 'mqtt-tcp' }, 'hello')
    const lines = out.text().trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(JSON.parse(lines[0] as string)).toMatchObject({ level: 30, node: 'n7', clientId: 'c1', listener: 'mqtt-tcp', msg: 'hello' })
  })

  it('writes one human-readable line per event with format text, errors included', () => {
    const out = sink()
    const logger = createLogger({ level: 'debug', format: 'text' }, 'n7', out.stream)
    logger.debug({ port: 1883 }, 'listening')
    logger.error({ err: new Error('disk gone') }, 'shutdown failed')
    const lines = out.text().split('\n')
    expect(lines.at(-1)).toBe('')
    expect(lines).toHaveLength(3)
    expect(lines[0]).toMatch(/DEBUG: listening \{"node":"n7","port":1883\}$/)
    expect(lines[1]).toMatch(/ERROR: shutdown failed \{"node":"n7","err":\{"type":"Error","message":"disk gone","stack":"Error: disk gone\\n/)
    expect(() => JSON.parse(out.text())).toThrow()
  })
})
