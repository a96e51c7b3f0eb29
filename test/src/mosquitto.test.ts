import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mosquittoPub, mosquittoSub } from '@fluxmq/testing'
import type { MosquittoSub, StartedFluxmq } from '@fluxmq/testing'
import { Scene } from './support/fluxmq.js'

// The walk-through of issue 2 as a new user does it, with Debian's mosquitto-clients.
const scene = new Scene()
let fluxmq: StartedFluxmq
let hostPort: string[]

beforeAll(async () => {
  fluxmq = await scene.broker()
  hostPort = ['-h', '127.0.0.1', '-p', String(fluxmq.process.port('mqtt-tcp'))]
})
afterAll(() => scene.cleanup.run())

function subscribe(args: readonly string[]): MosquittoSub {
  const sub = mosquittoSub([...hostPort, ...args])
  scene.cleanup.defer(() => sub.stop())
  return sub
}

describe('mosquitto_sub and mosquitto_pub against fluxmq', () => {
  for (const version of ['5', '311']) {
    it(`-V ${version}: mosquitto_sub -t 'a/#' receives mosquitto_pub -t a/b -m hi -q 2 exactly once`, async () => {
      const sub = subscribe(['-V', version, '-t', 'a/#', '-q', '2', '-v', '-C', '2', '-W', '20'])
      await sub.subscribed()
      expect((await mosquittoPub([...hostPort, '-V', version, '-t', 'a/b', '-m', 'hi', '-q', '2'])).status).toBe(0)
      expect((await mosquittoPub([...hostPort, '-V', version, '-t', 'a/c/d', '-m', 'second', '-q', '1'])).status).toBe(0)
      // -C 2: mosquitto_sub exits 0 after the second message, so a duplicate of the first would show up here.
      expect(await sub.exited).toBe(0)
      expect(sub.messages).toEqual(['a/b hi', 'a/c/d second'])
      // The QoS 2 handshake as mosquitto_sub traced it: one PUBLISH with QoS 2, one PUBREL.
      expect(sub.trace.filter((line) => / received PUBLISH \(d0, q2, r0, m\d+, 'a\/b'/.test(line))).toHaveLength(1)
      expect(sub.trace.filter((line) => / received PUBREL/.test(line))).toHaveLength(1)
    })
  }

  it('[MQTT-3.3.1-5] [MQTT-3.3.1-9] a retained message reaches a later subscriber with RETAIN=1; [MQTT-3.3.1-6] [MQTT-3.3.1-7] an empty retained publish clears it', async () => {
    expect((await mosquittoPub([...hostPort, '-V', '5', '-t', 'house/lamp', '-m', 'on', '-q', '1', '-r'])).status).toBe(0)
    const late = subscribe(['-V', '5', '-t', 'house/#', '-v', '-C', '1', '-W', '10'])
    expect(await late.waitForMessages(1)).toEqual(['house/lamp on'])
    expect(await late.exited).toBe(0)
    expect(late.trace.some((line) => / received PUBLISH \(d0, q0, r1, m0, 'house\/lamp'/.test(line))).toBe(true)

    expect((await mosquittoPub([...hostPort, '-V', '311', '-t', 'house/lamp', '-n', '-r', '-q', '1'])).status).toBe(0)
    // After the clear a new subscriber gets nothing retained: the first message it sees is a live one.
    const after = subscribe(['-V', '5', '-t', 'house/#', '-v', '-C', '1', '-W', '10'])
    await after.subscribed()
    expect((await mosquittoPub([...hostPort, '-V', '5', '-t', 'house/door', '-m', 'closed'])).status).toBe(0)
    expect(await after.waitForMessages(1)).toEqual(['house/door closed'])
    expect(after.trace.filter((line) => / received PUBLISH /.test(line)).every((line) => line.includes(', r0,'))).toBe(true)
  })
})
