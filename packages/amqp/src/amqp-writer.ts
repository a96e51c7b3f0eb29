/**
 * The few AMQP 1.0 encodings (§1.6) the hot path writes by hand, each in the form rhea's own
 * encoder picks for the same value, so that what goes out is byte for byte what rhea would send:
 * lists and maps always in their 32-bit forms, strings, symbols and binaries in their 8-bit forms
 * up to 255 bytes, unsigned ints in their smallest form.
 */
export const Code = {
  Described: 0x00,
  Null: 0x40,
  True: 0x41,
  False: 0x42,
  Uint0: 0x43,
  List0: 0x45,
  SmallUint: 0x52,
  SmallUlong: 0x53,
  Uint: 0x70,
  Timestamp: 0x83,
  Vbin8: 0xa0,
  Str8: 0xa1,
  Sym8: 0xa3,
  Vbin32: 0xb0,
  Str32: 0xb1,
  Sym32: 0xb3,
  List32: 0xd0,
  Map32: 0xd1,
} as const

/** A growing buffer with a write position; `take()` copies out what was written. */
export class AmqpWriter {
  private buffer: Buffer
  pos = 0

  constructor(size: number) {
    this.buffer = Buffer.allocUnsafe(size)
  }

  reset(): void {
    this.pos = 0
  }

  /** A right-sized copy of what was written. */
  take(): Buffer {
    const out = Buffer.allocUnsafe(this.pos)
    this.buffer.copy(out, 0, 0, this.pos)
    return out
  }

  private ensure(bytes: number): void {
    const need = this.pos + bytes
    if (need <= this.buffer.length) return
    const bigger = Buffer.allocUnsafe(Math.max(need, this.buffer.length * 2))
    this.buffer.copy(bigger, 0, 0, this.pos)
    this.buffer = bigger
  }

  byte(value: number): void {
    this.ensure(1)
    this.buffer[this.pos++] = value
  }

  uint32(value: number): void {
    this.ensure(4)
    this.buffer.writeUInt32BE(value, this.pos)
    this.pos += 4
  }

  /** `0x00 0x53 code`: the descriptor of a section or performative. */
  descriptor(code: number): void {
    this.ensure(3)
    const b = this.buffer
    b[this.pos] = Code.Described
    b[this.pos + 1] = Code.SmallUlong
    b[this.pos + 2] = code
    this.pos += 3
  }

  uint(value: number): void {
    if (value === 0) this.byte(Code.Uint0)
    else if (value <= 255) {
      this.byte(Code.SmallUint)
      this.byte(value)
    } else {
      this.byte(Code.Uint)
      this.uint32(value)
    }
  }

  string(value: string): void {
    this.variable(value, 'utf8', Code.Str8, Code.Str32)
  }

  /** rhea picks the width by the UTF-8 length and writes the text as ASCII (Latin-1) bytes. */
  symbol(value: string): void {
    this.variable(value, 'latin1', Code.Sym8, Code.Sym32)
  }

  binary(value: Uint8Array): void {
    const length = value.length
    if (length > 255) {
      this.byte(Code.Vbin32)
      this.uint32(length)
    } else {
      this.byte(Code.Vbin8)
      this.byte(length)
    }
    this.ensure(length)
    this.buffer.set(value, this.pos)
    this.pos += length
  }

  /** A short binary given as Latin-1 text (rhea's delivery tags), without a Buffer of its own. */
  binaryText(value: string): void {
    const length = value.length
    this.ensure(2 + length)
    const b = this.buffer
    let at = this.pos
    b[at++] = Code.Vbin8
    b[at++] = length
    // Byte by byte: Buffer#write costs more than the few digits of a tag.
    for (let i = 0; i < length; i++) b[at++] = value.charCodeAt(i)
    this.pos = at
  }

  /** Raw bytes. */
  bytes(source: Buffer): void {
    this.ensure(source.length)
    source.copy(this.buffer, this.pos)
    this.pos += source.length
  }

  /** What was written, without a copy (for a writer sized exactly, the whole buffer). */
  written(): Buffer {
    return this.pos === this.buffer.length ? this.buffer : this.buffer.subarray(0, this.pos)
  }

  timestamp(ms: number): void {
    this.byte(Code.Timestamp)
    this.ensure(8)
    this.buffer.writeBigInt64BE(BigInt(ms), this.pos)
    this.pos += 8
  }

  private variable(value: string, encoding: 'utf8' | 'latin1', small: number, large: number): void {
    const wide = Buffer.byteLength(value, 'utf8') > 255
    const length = encoding === 'utf8' ? Buffer.byteLength(value, 'utf8') : value.length
    this.byte(wide ? large : small)
    if (wide) this.uint32(length)
    else this.byte(length)
    this.ensure(length)
    this.buffer.write(value, this.pos, length, encoding)
    this.pos += length
  }

  /** Opens a list32 or map32: returns where its size goes, for `close`. */
  open(code: typeof Code.List32 | typeof Code.Map32): number {
    this.byte(code)
    const at = this.pos
    this.ensure(8)
    this.pos += 8
    return at
  }

  /** Fills in the size and count of the compound opened at `at`. */
  close(at: number, count: number): void {
    this.buffer.writeUInt32BE(this.pos - at - 4, at)
    this.buffer.writeUInt32BE(count, at + 4)
  }
}
