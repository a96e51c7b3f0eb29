import { createRequire } from 'node:module'
import rhea from 'rhea'
import { describe, expect, it } from 'vitest'
import { readTransferFrame } from './transfer-reader.js'

/** rhea's frame codec: internals it does not export from its entry point. */
const frames = createRequire(import.meta.url)('rhea/lib/frames.js') as Record<string, (...args: unknown[]) => unknown> & {
  amqp_frame(channel: number, performative: unknown, payload?: Buffer): object
  write_frame(frame: object): Buffer
  read_frame(buffer: Buffer): { channel: number; performative: Record<string, unknown> & { constructor: { toString(): string } }; payload?: Buffer }
}

const FIELDS = ['handle', 'delivery_id', 'delivery_tag', 'message_format', 'settled', 'more', 'rcv_settle_mode', 'state', 'resume', 'aborted', 'batchable']

const frame = (channel: number, fields: object, payload?: Buffer): Buffer => frames.write_frame(frames.amqp_frame(channel, frames.transfer?.(fields), payload))

/** What rhea's decoder hands the session, null fields as absent. */
function rheaView(buffer: Buffer): { channel: number; fields: Record<string, unknown>; payload: Buffer | undefined } {
  const f = frames.read_frame(buffer)
  const fields: Record<string, unknown> = {}
  for (const name of FIELDS) {
    const value = f.performative[name]
    if (value !== null && value !== undefined) fields[name] = value
  }
  return { channel: f.channel, fields, payload: f.payload }
}

function fastView(buffer: Buffer): { channel: number; fields: Record<string, unknown>; payload: Buffer | undefined } | undefined {
  const f = readTransferFrame(buffer, 0, buffer.length)
  if (f === undefined) return undefined
  const fields: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(f.performative)) if (value !== undefined) fields[name] = value
  return { channel: f.channel, fields, payload: f.payload }
}

/** rhea has no wrapper for a transfer's state field: it goes into the performative's list as is. */
function withState(): Buffer {
  const performative = frames.transfer?.({ handle: 0, delivery_id: 0, delivery_tag: Buffer.from('0'), message_format: 0 }) as { value: unknown[] }
  performative.value[7] = (rhea.message as unknown as { accepted(): { described(): unknown } }).accepted().described()
  return frames.write_frame(frames.amqp_frame(0, performative, message))
}

const message = rhea.message.encode({ body: rhea.message.data_section(Buffer.from('hello')) } as never)
const common: [string, Buffer][] = [
  ['rhea’s own sender transfer', frame(0, { handle: 0, delivery_id: 0, delivery_tag: Buffer.from('0'), message_format: 0, settled: false, more: false }, message)],
  ['pre-settled, wide ids and channel', frame(0x1234, { handle: 300, delivery_id: 0xfffffff0, delivery_tag: Buffer.alloc(8, 1), message_format: 0, settled: true, more: false }, message)],
  ['a continuation frame (only handle and more)', frame(1, { handle: 2, more: true }, Buffer.from('part'))],
  ['rcv-settle-mode, resume and batchable', frame(0, { handle: 1, delivery_id: 5, delivery_tag: Buffer.from('t'), message_format: 7, settled: false, more: false, rcv_settle_mode: 1, resume: false, batchable: true }, message)],
  ['no payload', frame(0, { handle: 1, delivery_id: 5, delivery_tag: Buffer.from('t'), message_format: 0 })],
  ['a delivery tag above 255 bytes', frame(0, { handle: 1, delivery_id: 5, delivery_tag: Buffer.alloc(300, 2), message_format: 0 }, message)],
]

describe('readTransferFrame', () => {
  for (const [name, buffer] of common) {
    it(`reads what rhea's frame decoder reads: ${name}`, () => {
      expect(fastView(buffer)).toEqual(rheaView(buffer))
    })
  }

  const others: [string, Buffer][] = [
    ['a transfer with a delivery state', withState()],
    ['an aborted transfer', frame(0, { handle: 0, more: false, aborted: true })],
    ['a disposition', frames.write_frame(frames.amqp_frame(0, frames.disposition?.({ role: true, first: 1, last: 2, settled: true })))],
    ['a flow', frames.write_frame(frames.amqp_frame(0, frames.flow?.({ next_incoming_id: 0, incoming_window: 10, next_outgoing_id: 0, outgoing_window: 10 })))],
    ['an empty frame (heartbeat)', Buffer.from([0, 0, 0, 8, 2, 0, 0, 0])],
  ]
  for (const [name, buffer] of others) {
    it(`leaves to rhea: ${name}`, () => {
      expect(readTransferFrame(buffer, 0, buffer.length)).toBeUndefined()
    })
  }

  it('an extended header (doff above 2) is left to rhea', () => {
    const plain = common[0]?.[1] as Buffer
    const extended = Buffer.concat([plain.subarray(0, 8), Buffer.alloc(4), plain.subarray(8)])
    extended.writeUInt32BE(extended.length, 0)
    extended[4] = 3
    expect(readTransferFrame(extended, 0, extended.length)).toBeUndefined()
  })

  it('reads a frame in the middle of a larger buffer', () => {
    const one = common[1]?.[1] as Buffer
    const buffer = Buffer.concat([Buffer.alloc(5), one, Buffer.alloc(3)])
    expect(readTransferFrame(buffer, 5, one.length)?.performative.delivery_id).toBe(0xfffffff0)
  })

  it('on mutated frames: never throws, and what it reads rhea reads the same', () => {
    let seed = 777
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed % n
    }
    for (let i = 0; i < 10_000; i++) {
      const buffer = Buffer.from(common[random(common.length)]?.[1] as Buffer)
      for (let k = 0; k < 2; k++) buffer[8 + random(Math.min(40, buffer.length - 8))] = random(256)
      const fast = fastView(buffer)
      if (fast === undefined) continue
      expect(fast).toEqual(rheaView(buffer))
    }
  })
})
