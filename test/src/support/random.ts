export { seededRandom } from '@fluxmq/testing'

/**
 * Seeds from TEST_CRASH_SEEDS ("1,2,3") to replay a run, otherwise `count` fresh ones. Printed by
 * the caller so every run can be replayed.
 */
export function crashSeeds(count: number): number[] {
  const given = process.env.TEST_CRASH_SEEDS
  if (given !== undefined && given.trim() !== '') return given.split(',').map((seed) => Number.parseInt(seed.trim(), 10))
  return Array.from({ length: count }, () => Math.floor(Math.random() * 0x7fffffff))
}
