import { describe, expect, it } from 'vitest'
import { testScope, until } from './test-support/harness.js'

const s = testScope()
const will = { topic: 'will/t', payload: Buffer.from('gone'), qos: 1 as const, retain: false }

describe('the "client disconnected" log line', () => {
  it('says publishWill only for a client that has a will: true when it goes out, false after DISCONNECT 0x00', async () => {
    const t = await s.start()
    const disconnected = (clientId: string) => t.logger.lines.find((line) => line.level === 'info' && line.msg === 'client disconnected' && line.obj.clientId === clientId)?.obj

    const dropped = await s.raw(t.port, 5, { clientId: 'dropped-with-will', will })
    const polite = await s.raw(t.port, 5, { clientId: 'polite-with-will', will })
    const plain = await s.raw(t.port, 4, { clientId: 'no-will' })
    await s.raw(t.port, 5, { clientId: 'no-will-at-shutdown' })
    dropped.close()
    polite.send({ cmd: 'disconnect', reasonCode: 0 })
    plain.close()
    await until(() => ['dropped-with-will', 'polite-with-will', 'no-will'].every((id) => disconnected(id) !== undefined))
    // Shutdown detaches every remaining connection the same way.
    await t.close()

    expect(disconnected('dropped-with-will')).toMatchObject({ publishWill: true })
    expect(disconnected('polite-with-will')).toMatchObject({ publishWill: false })
    expect(disconnected('no-will')).not.toHaveProperty('publishWill')
    expect(disconnected('no-will-at-shutdown')).toBeDefined()
    expect(disconnected('no-will-at-shutdown')).not.toHaveProperty('publishWill')
  })
})
