import type { Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { encode } from './encode.js'
import { CodecError } from './errors.js'
import { MqttParser } from './parser.js'
import type { ProtocolVersion } from './protocol.js'
import { encodePublish } from './publish-encode.js'
import { clientPacketsAfterConnect, connectPacket } from './test-support/fixtures.js'
import { randomPublish } from './test-support/random-publish.js'
import { Random, seedFromEnv } from './test-support/random.js'

const SECONDS = Number(process.env.TEST_FUZZ_SECONDS ?? 5)
const VERSIONS: ProtocolVersion[] = [3, 4, 5]
const HEAP_GROWTH_LIMIT = 256 * 1024 * 1024

/** Valid frames per version to start from: every client packet type plus random publishes. */
function corpus(version: ProtocolVersion, random: Random): { connect: Buffer; frames: Buffer[] } {
  const frames = clientPacketsAfterConnect(version).map((packet) => encode(packet, version))
  for (let i = 0; i < 40; i++) {
    const fields = randomPublish(random, true)
    delete fields.properties?.subscriptionIdentifier
    frames.push(encodePublish(fields, version))
  }
  return { connect: encode(connectPacket(version), version), frames }
}

function mutate(bytes: Buffer, random: Random): Buffer {
  const out = Buffer.from(bytes)
  switch (random.int(0, 6)) {
    case 0: // flip bits
      for (let n = random.int(1, 3); n > 0 && out.length > 0; n--) {
        const at = random.int(0, out.length - 1)
        out[at] = (out[at] as number) ^ (1 << random.int(0, 7))
      }
      return out
    case 1: // overwrite a byte, biased towards the header and lengths
      if (out.length > 0) out[random.int(0, Math.min(out.length - 1, random.bool() ? 8 : out.length - 1))] = random.int(0, 255)
      return out
    case 2: {
      const at = random.int(0, out.length)
      return Buffer.concat([out.subarray(0, at), random.bytes(random.int(1, 8)), out.subarray(at)])
    }
    case 3: {
      const at = random.int(0, out.length)
      return Buffer.concat([out.subarray(0, at), out.subarray(Math.min(out.length, at + random.int(1, 8)))])
    }
    case 4:
      return out.subarray(0, random.int(0, out.length))
    case 5: // an interesting value where a length usually sits
      if (out.length > 1) out[random.int(1, Math.min(out.length - 1, 4))] = random.pick([0x00, 0x7f, 0x80, 0xff])
      return out
    default:
      return random.bytes(random.int(1, 64))
  }
}

function sameBytes(packet: Packet, version: ProtocolVersion): void {
  if (packet.cmd !== 'publish') return
  // An accepted PUBLISH re-encodes and parses back to itself.
  const bytes = encode(packet, version)
  const again: Packet[] = []
  const parser = new MqttParser({ maxPacketSize: 512 * 1024 * 1024 })
  parser.push(encode(connectPacket(version), version), () => {})
  parser.push(bytes, (p) => again.push(p))
  expect(again).toHaveLength(1)
  expect(encode(again[0] as Packet, version).equals(bytes)).toBe(true)
}

describe('MqttParser fuzz', () => {
  it(`throws only CodecError on random and mutated input for ${SECONDS}s, with bounded memory`, () => {
    const seed = seedFromEnv()
    const random = new Random(seed)
    const corpora = new Map(VERSIONS.map((version) => [version, corpus(version, random)]))
    const baseline = process.memoryUsage()
    const deadline = Date.now() + SECONDS * 1000
    let iterations = 0
    let accepted = 0
    let rejected = 0
    try {
      while (Date.now() < deadline) {
        iterations++
        const version = random.pick(VERSIONS)
        const { connect, frames } = corpora.get(version) as { connect: Buffer; frames: Buffer[] }
        const parts: Buffer[] = [random.bool(0.1) ? mutate(connect, random) : connect]
        for (let n = random.int(1, 8); n > 0; n--) {
          const frame = random.pick(frames)
          parts.push(random.bool(0.3) ? mutate(frame, random) : frame)
        }
        const stream = Buffer.concat(parts)
        const parser = new MqttParser({ maxPacketSize: random.pick([64, 1024, 256 * 1024 * 1024]) })
        try {
          for (let at = 0; at < stream.length; ) {
            const size = random.bool(0.2) ? 1 : random.int(1, 512)
            parser.push(stream.subarray(at, at + size), (packet) => {
              accepted++
              if (random.bool(0.05)) sameBytes(packet, version)
            })
            at += size
          }
        } catch (error) {
          if (!(error instanceof CodecError)) throw error
          rejected++
        }
        if (iterations % 2000 === 0) {
          const now = process.memoryUsage()
          expect(now.heapUsed + now.arrayBuffers - baseline.heapUsed - baseline.arrayBuffers).toBeLessThan(HEAP_GROWTH_LIMIT)
        }
      }
    } catch (error) {
      throw new Error(`fuzz failed with TEST_SEED=${seed} after ${iterations} iterations: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
    }
    expect(accepted).toBeGreaterThan(0)
    expect(rejected).toBeGreaterThan(0)
  }, SECONDS * 1000 + 30_000)
})
