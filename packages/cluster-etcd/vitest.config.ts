import { defineConfig } from 'vitest/config'

// Real etcd processes: one file at a time keeps two shared cores from being oversubscribed.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
})
