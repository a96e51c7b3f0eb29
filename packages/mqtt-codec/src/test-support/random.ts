import { seededRandom } from '@fluxmq/testing'

/** Random test inputs from one seed (seededRandom), so every randomized test replays from it. */
export class Random {
  /** Uniform in [0, 1). */
  readonly next: () => number

  constructor(readonly seed: number) {
    this.next = seededRandom(seed)
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
