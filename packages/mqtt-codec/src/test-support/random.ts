/** mulberry32: a tiny seeded PRNG so every randomized test replays from its seed. */
export class Random {
  private state: number

  constructor(readonly seed: number) {
    this.state = seed >>> 0
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0
    let t = this.state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1))
  }

  bool(probability = 0.5): boolean {
    return this.next() < probability
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)] as T
  }

  bytes(length: number): Buffer {
    const out = Buffer.allocUnsafe(length)
    for (let i = 0; i < length; i++) out[i] = this.int(0, 255)
    return out
  }

  /** A string of valid characters: ASCII mostly, some multi-byte and astral ones. */
  text(maxLength: number, alphabet = 'abcxyz019/_-. é€😀'): string {
    const chars = Array.from(alphabet)
    let out = ''
    const length = this.int(0, maxLength)
    for (let i = 0; i < length; i++) out += this.pick(chars)
    return out
  }
}

export function seedFromEnv(): number {
  const fromEnv = process.env.TEST_SEED
  return fromEnv === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(fromEnv)
}
