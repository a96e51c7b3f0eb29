import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { transferFrame } from './transfer-frame.js'
import type { TransferFields } from './transfer-frame.js'

/** rhea's frame writer and TRANSFER performative: internals it does not export from its entry point. */
const frames = createRequire(import.meta.url)('rhea/lib/frames.js') as {
  transfer(fields: object): object
  amqp_frame(channel: number, performative: object, payload: Buffer): object
  write_frame(frame: object): Buffer
}

/** What rhea's session writes for a delivery (Outgoing.process). */
function rheaTransfer(f: TransferFields, message: Buffer): Buffer {
  const performative = frames.transfer({ handle: f.handle, message_format: 0, delivery_id: f.deliveryId, delivery_tag: Buffer.from(String(f.tag)), settled: f.settled, more: false })
  return frames.write_frame(frames.amqp_frame(f.channel, performative, message))
}

const flat = (frame: Buffer | [Buffer, Buffer] | undefined): string => {
  if (frame === undefined) throw new Error('no frame')
  return (Array.isArray(frame) ? Buffer.concat(frame) : frame).toString('hex')
}

const cases: [string, TransferFields, Buffer][] = [
  ['first delivery, unsettled', { channel: 0, handle: 0, deliveryId: 0, tag: 0, settled: false }, Buffer.from([0x00, 0x53, 0x75, 0xa0, 1, 9])],
  ['pre-settled, small handle and id', { channel: 3, handle: 7, deliveryId: 200, tag: 12, settled: true }, Buffer.alloc(64, 1)],
  ['ids above 255 and a wide channel', { channel: 0x1234, handle: 300, deliveryId: 0xfffffffe, tag: 1234567890, settled: false }, Buffer.alloc(10, 2)],
  ['a message above the copy limit (header and body apart)', { channel: 1, handle: 1, deliveryId: 70_000, tag: 70_000, settled: false }, Buffer.alloc(5000, 3)],
]

describe('transferFrame', () => {
  for (const [name, fields, message] of cases) {
    it(`writes what rhea writes for sender.send: ${name}`, () => {
      expect(flat(transferFrame(fields, message, 0xffffffff))).toBe(rheaTransfer(fields, message).toString('hex'))
    })
  }

  it('refuses a message that does not fit in one frame of the max-frame-size', () => {
    const fields = { channel: 0, handle: 0, deliveryId: 5, tag: 5, settled: false }
    const size = rheaTransfer(fields, Buffer.alloc(100)).length
    expect(transferFrame(fields, Buffer.alloc(100), size)).toBeDefined()
    expect(transferFrame(fields, Buffer.alloc(100), size - 1)).toBeUndefined()
  })
})
