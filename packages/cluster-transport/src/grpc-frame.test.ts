import { describe, expect, it } from 'vitest'
import { TransportErrorCode } from './errors.js'
import { frame, FrameReader } from './grpc-frame.js'

function readAll(reader: FrameReader, chunks: Buffer[]): string[] {
  const out: string[] = []
  for (const chunk of chunks) reader.push(chunk, (message) => out.push(message.toString()))
  return out
}

describe('FrameReader', () => {
  it('returns every message whatever the chunk boundaries, and knows when it stopped inside one', () => {
    const bytes = Buffer.concat(['a', '', 'hello', 'x'.repeat(300)].map((m) => frame(Buffer.from(m))))
    for (const size of [1, 2, 5, 6, 7, 64, bytes.length]) {
      const chunks: Buffer[] = []
      for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, at + size))
      const reader = new FrameReader(1024)
      expect(readAll(reader, chunks)).toEqual(['a', '', 'hello', 'x'.repeat(300)])
      expect(reader.partial).toBe(false)
    }
    const reader = new FrameReader(1024)
    expect(readAll(reader, [bytes.subarray(0, 9)])).toEqual(['a'])
    expect(reader.partial).toBe(true)
  })

  it('refuses a message over the limit before reading it, and a compressed one', () => {
    const big = frame(Buffer.alloc(11))
    expect(() => new FrameReader(10).push(big.subarray(0, 5), () => undefined)).toThrow(expect.objectContaining({ code: TransportErrorCode.Protocol }))
    const compressed = frame(Buffer.from('z'))
    compressed[0] = 1
    expect(() => new FrameReader(10).push(compressed, () => undefined)).toThrow(expect.objectContaining({ code: TransportErrorCode.Protocol }))
  })
})
