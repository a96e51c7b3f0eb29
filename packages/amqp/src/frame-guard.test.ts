import { describe, expect, it } from 'vitest'
import { FrameScanner } from './frame-guard.js'

const header = (protocolId: number) => Buffer.from([0x41, 0x4d, 0x51, 0x50, protocolId, 1, 0, 0])

function frame(size: number): Buffer {
  const bytes = Buffer.alloc(size)
  bytes.writeUInt32BE(size, 0)
  bytes[4] = 2
  return bytes
}

describe('FrameScanner', () => {
  it('follows protocol headers (SASL, then AMQP) and frames, however the stream is cut', () => {
    const stream = Buffer.concat([header(3), frame(30), frame(8), header(0), frame(100), frame(1024)])
    for (const cut of [1, 3, 7, 13, stream.length]) {
      const scanner = new FrameScanner(1024)
      for (let i = 0; i < stream.length; i += cut) expect(scanner.scan(stream.subarray(i, i + cut))).toBeUndefined()
    }
  })

  it('refuses a frame above the max-frame-size from its size field alone, before the frame arrives', () => {
    const scanner = new FrameScanner(1024)
    expect(scanner.scan(Buffer.concat([header(0), frame(1024)]))).toBeUndefined()
    expect(scanner.scan(Buffer.from([0, 0, 4, 1]))).toMatch(/1025 is above the max-frame-size 1024/)
  })

  it('refuses a frame smaller than its own header', () => {
    expect(new FrameScanner(1024).scan(Buffer.concat([header(0), Buffer.from([0, 0, 0, 7])]))).toMatch(/below the minimum/)
  })
})
