import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runUntilKilled } from '@fluxmq/testing'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { QueueDelivery } from './delivery.js'
import { QueueEngine } from './engine.js'

const child = fileURLToPath(new URL('./test-support/crash-writer.mjs', import.meta.url))
let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fluxmq-queue-crash-'))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

describe('QueueEngine: crash safety', () => {
  for (const sync of ['normal', 'full'] as const) {
    it(`keeps every durable append and redelivers every unacked message after SIGKILL (sync: ${sync})`, async () => {
      if (!existsSync(fileURLToPath(new URL('../dist/index.js', import.meta.url)))) {
        throw new Error('the crash test runs the built package: run `pnpm build` first')
      }
      const { appended, acked } = await appendUntilKilled([dir, sync], 300)
      const deliveries: QueueDelivery[] = []
      const engine = QueueEngine.open({ dir, sync, clock: { now: () => Date.now() }, deliver: (delivery) => deliveries.push(delivery), schedule: () => undefined })
      try {
        engine.attach({ consumerId: 'after', queue: 'crash', group: 'g' })
        engine.grant('after', 1_000_000_000)
        const redelivered = new Map(deliveries.map((delivery) => [delivery.offset, delivery]))
        expect(engine.stats('crash')?.nextOffset).toBeGreaterThan(appended)
        for (let offset = 0; offset <= appended; offset++) {
          // Unacked (odd) ones come again; an ack that committed is never undone.
          if (offset % 2 === 1) expect(redelivered.has(offset), `offset ${offset}`).toBe(true)
          if (acked.has(offset)) expect(redelivered.has(offset), `offset ${offset}`).toBe(false)
        }
        for (const [offset, delivery] of redelivered) {
          expect(delivery.message.payload.toString()).toBe(String(offset))
          expect(delivery.message.topic).toBe(`crash/${offset}`)
          expect(delivery.message.properties.userProperties?.[0]).toEqual(['n', String(offset)])
        }
        expect(acked.size).toBeGreaterThan(100)
        // Each commit of the first run also wrote how far the previous commit's messages had been
        // delivered, so below the last batch every odd offset is at least its second delivery.
        const odd = [...redelivered.values()].filter((delivery) => delivery.offset % 2 === 1 && delivery.offset < appended - 6)
        expect(odd.every((delivery) => delivery.deliveryCount >= 2)).toBe(true)
      } finally {
        engine.close()
      }
    })
  }
})

/** Runs the writer until `after` appends are durable, SIGKILLs it, returns what it reported. */
async function appendUntilKilled(args: string[], after: number): Promise<{ appended: number; acked: Set<number> }> {
  let appended = -1
  const acked = new Set<number>()
  await runUntilKilled(child, args, (line) => {
    const [kind, value] = line.split(' ')
    if (kind === 'A') appended = Number(value)
    else if (kind === 'K') acked.add(Number(value))
    return appended >= after
  })
  return { appended, acked }
}
