import { defineConfig } from 'vitest/config'

// Real broker processes: one file at a time keeps two cores from being oversubscribed.
export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
})
