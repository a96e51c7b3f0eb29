/**
 * [AMQP 1.6] Checks that bytes rhea's generic decoder is about to read decode in bounded work.
 *
 * rhea reads an array's elements without looking at how many bytes are left: an array of a
 * zero-width type (null, true, false, uint0, ulong0, list0) decodes `count` elements from no bytes
 * at all, so ten bytes that claim an array of 2^30 empty lists allocate 2^30 values in one
 * synchronous loop (`Reader.read_array_items`), and the broker runs out of heap. This walks the
 * values the way rhea will, element by element from the same bytes, and refuses before rhea
 * reads them: a value that does not fit, a list, map or array whose elements do not end where its
 * size says, an unknown type code, nesting deeper than rhea's stack comfortably takes, and more
 * values than the bytes hold (the elements of zero-width arrays are the only values that take no
 * byte; each counts as one).
 */

/** Nesting (compound values, described values, descriptors) deeper than any peer needs. */
export const MAX_DEPTH = 100

/** [AMQP 1.6] The fixed widths of the primitive type codes rhea knows (`types.js`). */
export const FIXED_WIDTH = new Map<number, number>([
  [0x40, 0], [0x41, 0], [0x42, 0], [0x43, 0], [0x44, 0], [0x45, 0],
  [0x50, 1], [0x51, 1], [0x52, 1], [0x53, 1], [0x54, 1], [0x55, 1], [0x56, 1],
  [0x60, 2], [0x61, 2],
  [0x70, 4], [0x71, 4], [0x72, 4], [0x73, 4], [0x74, 4],
  [0x80, 8], [0x81, 8], [0x82, 8], [0x83, 8], [0x84, 8],
  [0x94, 16], [0x98, 16],
])
/** Variable-width codes and the width of their size field. */
const SIZE_WIDTH = new Map<number, number>([
  [0xa0, 1], [0xa1, 1], [0xa3, 1],
  [0xb0, 4], [0xb1, 4], [0xb3, 4],
])
/** List and map codes (compound), array codes, and the width of their size and count fields. */
const COMPOUND_WIDTH = new Map<number, number>([[0xc0, 1], [0xc1, 1], [0xd0, 4], [0xd1, 4]])
const ARRAY_WIDTH = new Map<number, number>([[0xe0, 1], [0xf0, 4]])

/** Thrown inside the walk, caught at its top: the description of what is wrong. */
class Malformed {
  constructor(readonly description: string) {}
}

const unknown = (code: number): Malformed => new Malformed(`unknown type code 0x${code.toString(16)}`)

class Walk {
  /** Values the bytes may still decode to: one per byte of the whole input. */
  private values: number
  private readonly bytes: number

  constructor(
    private readonly buffer: Buffer,
    public pos: number,
    /** Where the value being read must end: the input's end, or its enclosing compound's. */
    public end: number,
  ) {
    this.bytes = end - pos
    this.values = this.bytes
  }

  private count(values: number): void {
    this.values -= values
    if (this.values < 0) throw new Malformed(`more values than its ${this.bytes} bytes can hold`)
  }

  private need(bytes: number): number {
    const at = this.pos
    if (bytes > this.end - at) throw new Malformed(`a value of ${bytes} bytes at ${at} runs past its end at ${this.end}`)
    this.pos += bytes
    return at
  }

  private uint(width: number): number {
    const at = this.need(width)
    return width === 1 ? (this.buffer[at] as number) : this.buffer.readUInt32BE(at)
  }

  /** One value with its constructor, as `Reader.read`. */
  value(depth: number): void {
    this.valueOf(this.constructorCode(depth), depth)
  }

  /** A constructor, as `Reader.read_constructor`: its type code, after any descriptors. */
  private constructorCode(depth: number): number {
    let code = this.uint(1)
    while (code === 0x00) {
      // A described type: the descriptor is a value of its own (rhea reads it recursively).
      if (++depth > MAX_DEPTH) throw new Malformed(`values nested deeper than ${MAX_DEPTH}`)
      this.value(depth)
      code = this.uint(1)
    }
    return code
  }

  /** The value of a type code, without its constructor, as `Reader.read_value`. */
  private valueOf(code: number, depth: number): void {
    this.count(1)
    const fixed = FIXED_WIDTH.get(code)
    if (fixed !== undefined) {
      this.need(fixed)
      return
    }
    const sizeWidth = SIZE_WIDTH.get(code)
    if (sizeWidth !== undefined) {
      this.need(this.uint(sizeWidth))
      return
    }
    const compound = COMPOUND_WIDTH.get(code)
    if (compound !== undefined) {
      this.within(compound, depth, (count) => {
        for (let i = 0; i < count; i++) this.value(depth + 1)
      })
      return
    }
    const array = ARRAY_WIDTH.get(code)
    if (array !== undefined) {
      this.within(array, depth, (count) => this.elements(count, this.constructorCode(depth + 1), depth + 1))
      return
    }
    throw unknown(code)
  }

  /**
   * [AMQP 1.6] A list, map or array: its size and count, then `read(count)` for what follows,
   * which must end exactly where the size says.
   */
  private within(width: number, depth: number, read: (count: number) => void): void {
    if (depth + 1 > MAX_DEPTH) throw new Malformed(`values nested deeper than ${MAX_DEPTH}`)
    const size = this.uint(width)
    const start = this.pos
    const outer = this.end
    if (size > outer - start) throw new Malformed(`a compound of ${size} bytes at ${start} runs past its end at ${outer}`)
    this.end = start + size
    read(this.uint(width))
    if (this.pos !== this.end) throw new Malformed(`a compound at ${start} ends at ${this.pos}, its size says ${this.end}`)
    this.end = outer
  }

  /** An array's `count` elements of one type code, as `Reader.read_array_items`. */
  private elements(count: number, code: number, depth: number): void {
    const fixed = FIXED_WIDTH.get(code)
    if (fixed !== undefined) {
      // No loop: zero-width elements take no byte but count as values, the others take their bytes.
      this.need(count * fixed)
      this.count(count)
      return
    }
    // rhea looks the type up before the first element, so a code it does not know fails even with none.
    if (!SIZE_WIDTH.has(code) && !COMPOUND_WIDTH.has(code) && !ARRAY_WIDTH.has(code)) throw unknown(code)
    // Every other element takes a byte at least: more than there are cannot be.
    if (count > this.end - this.pos) throw new Malformed(`an array of ${count} elements in ${this.end - this.pos} bytes`)
    for (let i = 0; i < count; i++) this.valueOf(code, depth)
  }
}

/**
 * What makes buffer[start, end) unsafe for rhea's decoder, or undefined when it is not: the first
 * value only (`first`: a frame's performative, followed by its payload; none in an empty frame)
 * or every value up to `end` (a message's sections).
 */
export function encodingProblem(buffer: Buffer, start: number, end: number, first: boolean): string | undefined {
  const walk = new Walk(buffer, start, end)
  try {
    while (walk.pos < end) {
      walk.value(0)
      if (first) break
    }
    return undefined
  } catch (err) {
    if (err instanceof Malformed) return err.description
    throw err
  }
}
