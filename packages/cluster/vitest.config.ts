import { defineConfig } from 'vitest/config'

// Real etcd processes and transport servers: one file at a time on shared cores.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
})
