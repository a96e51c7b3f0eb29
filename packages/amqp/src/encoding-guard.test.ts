import { createRequire } from 'node:module'
import { seededRandom } from '@fluxmq/testing'
import rhea from 'rhea'
import { describe, expect, it } from 'vitest'
import { encodingProblem, MAX_DEPTH } from './encoding-guard.js'

const require = createRequire(import.meta.url)
/** rhea's codec internals (plain modules of the package): what the guard stands in front of. */
const frames = require('rhea/lib/frames.js') as Record<string, (fields: object) => unknown> & {
  amqp_frame(channel: number, performative: unknown, payload?: Buffer): object
  write_frame(frame: object): Buffer
}
const types = require('rhea/lib/types.js') as {
  Reader: new (buffer: Buffer) => { position: number; read(): unknown }
  wrap_array(values: unknown[], code: number): unknown
  wrap_symbol(s: string): unknown
}
const terminus = require('rhea/lib/terminus.js') as { source(fields: object): { described(): unknown } }

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ''), 'hex')
/** The performative (or the whole body) of a frame rhea writes. */
const body = (performative: unknown, payload?: Buffer): Buffer => frames.write_frame(frames.amqp_frame(0, performative, payload)).subarray(8)
const first = (b: Buffer): string | undefined => encodingProblem(b, 0, b.length, true)
const all = (b: Buffer): string | undefined => encodingProblem(b, 0, b.length, false)

/** What rhea writes, each well-formed: performatives with terminus maps and arrays, and messages with every section. */
const valid: [string, Buffer][] = [
  ['OPEN with capabilities (an array of symbols) and properties', body(frames.open?.({ container_id: 'c', max_frame_size: 4096, offered_capabilities: ['a', 'b'], properties: { k: 'v' } }))],
  [
    'ATTACH with a source filter',
    body(
      frames.attach?.({
        name: 'l',
        handle: 0,
        role: true,
        source: terminus.source({ address: 'a/b', filter: { f: types.wrap_symbol('x') } }).described(),
        initial_delivery_count: 0,
      }),
    ),
  ],
  ['FLOW', body(frames.flow?.({ incoming_window: 2048, next_outgoing_id: 0, outgoing_window: 2048, handle: 1, delivery_count: 0, link_credit: 100, drain: true }))],
  ['an empty body (a heartbeat)', Buffer.alloc(0)],
  [
    'a message of every section, with an array and nested maps and lists',
    rhea.message.encode({
      header: { durable: true },
      message_annotations: { a: 1 },
      properties: { message_id: 'm', to: 't', creation_time: new Date(0) },
      application_properties: { k: 'v', n: 5 },
      body: { list: [1, 'two', [3, { four: null }]], array: types.wrap_array([1, 2, 3], 0x70) },
      footer: { f: true },
    } as never),
  ],
  ['an array of three true values (zero-width elements, one value per byte)', hex('e0 02 03 41')],
]

describe('encodingProblem', () => {
  for (const [name, bytes] of valid) {
    it(`passes what rhea writes: ${name}`, () => {
      expect(all(bytes)).toBeUndefined()
      expect(first(bytes)).toBeUndefined()
    })
  }

  it('takes only the first value of a frame: a TRANSFER performative, not its payload', () => {
    const transfer = body(frames.transfer?.({ handle: 0, delivery_id: 0, delivery_tag: Buffer.from('t'), message_format: 0 }), hex('ffff'))
    expect(first(transfer)).toBeUndefined()
    expect(all(transfer)).toMatch(/unknown type code 0xff/)
  })

  // Issue #12 (fuzz seed 2129037733): ten bytes that rhea decodes into 2^30 empty lists.
  it('refuses an array of zero-width elements that claims more values than the bytes hold', () => {
    expect(first(hex('f0 00000005 40000000 45'))).toMatch(/more values than its 10 bytes can hold/)
    expect(first(hex('e0 02 ff 40'))).toMatch(/more values than its 4 bytes can hold/)
    // Inside a TRANSFER's settled field, as the fuzz sent it.
    expect(first(hex('005314 c01105 43 43 a00100 43 f0 00000005 40000000 45'))).toMatch(/more values/)
    // Inside an array of arrays: every inner count adds up.
    expect(first(hex('e0 08 02 e0 02 04 42 02 04 42'))).toMatch(/more values/)
  })

  it('refuses an array of wider elements that do not fit, without walking them', () => {
    expect(first(hex('f0 00000005 ffffffff 70'))).toMatch(/runs past/)
    expect(first(hex('f0 00000005 ffffffff a1'))).toMatch(/an array of 4294967295 elements in 0 bytes/)
  })

  it('refuses values that run past their end, compounds whose size is wrong, unknown type codes', () => {
    expect(first(hex('70 0000'))).toMatch(/runs past/)
    expect(first(hex('a1 05 6869'))).toMatch(/runs past/)
    expect(first(hex('c0 ff 01 40'))).toMatch(/a compound of 255 bytes/)
    expect(first(hex('c0 03 01 40 40'))).toMatch(/ends at 4, its size says 5/)
    expect(first(hex('c0 01 01 40'))).toMatch(/runs past/)
    expect(first(hex('c0 02 01 ff'))).toMatch(/unknown type code 0xff/)
    expect(first(hex('e0 02 00 ff'))).toMatch(/unknown type code 0xff/)
    expect(first(hex('00'))).toMatch(/runs past/)
  })

  it(`refuses nesting deeper than ${MAX_DEPTH}, in lists and in descriptors`, () => {
    // A list32 of one list: size and count around the inner one, built from the inside out.
    let nested = hex('45')
    for (let i = 0; i < MAX_DEPTH; i++) {
      const head = hex('d0 00000000 00000001')
      head.writeUInt32BE(4 + nested.length, 1)
      nested = Buffer.concat([head, nested])
    }
    expect(first(nested)).toBeUndefined()
    const deeper = Buffer.concat([hex('d0 00000000 00000001'), nested])
    deeper.writeUInt32BE(4 + nested.length, 1)
    expect(first(deeper)).toMatch(/nested deeper than 100/)
    expect(first(Buffer.concat([Buffer.alloc(MAX_DEPTH + 1, 0), hex('40')]))).toMatch(/nested deeper than 100/)
  })

  it('whatever it passes, rhea decodes without an error (randomly mutated encodings)', () => {
    const random = seededRandom(20261206)
    let passed = 0
    for (let n = 0; n < 20_000; n++) {
      const bytes = Buffer.from(valid[Math.floor(random() * valid.length)]![1])
      if (bytes.length === 0) continue
      for (let f = 0, flips = 1 + Math.floor(random() * 3); f < flips; f++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256)
      if (first(bytes) !== undefined) continue
      passed++
      const reader = new types.Reader(bytes)
      expect(() => reader.read(), bytes.toString('hex')).not.toThrow()
    }
    expect(passed).toBeGreaterThan(1000)
  })
})
