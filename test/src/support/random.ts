/** mulberry32: a small seeded PRNG, so a failing kill point replays from its printed seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * Seeds from TEST_CRASH_SEEDS ("1,2,3") to replay a run, otherwise `count` fresh ones. Printed by
 * the caller so every run can be replayed.
 */
export function crashSeeds(count: number): number[] {
  const given = process.env.TEST_CRASH_SEEDS
  if (given !== undefined && given.trim() !== '') return given.split(',').map((seed) => Number.parseInt(seed.trim(), 10))
  return Array.from({ length: count }, () => Math.floor(Math.random() * 0x7fffffff))
}
