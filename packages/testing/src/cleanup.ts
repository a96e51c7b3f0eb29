import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

type Undo = () => unknown

/**
 * What a test opened and must close: processes, clients, temp dirs. `run()` undoes everything in
 * reverse order, runs every step even when one fails, and throws the first failure afterwards.
 */
export class Cleanup {
  private readonly steps: Undo[] = []

  defer(step: Undo): void {
    this.steps.push(step)
  }

  /** Registers `step` for `value` and hands `value` back: `const c = cleanup.add(x, () => x.close())`. */
  add<T>(value: T, step: (value: T) => unknown): T {
    this.steps.push(() => step(value))
    return value
  }

  /** A fresh directory under the OS temp dir, removed by `run()`. */
  tempDir(prefix = 'fluxmq-test-'): string {
    const dir = mkdtempSync(join(tmpdir(), prefix))
    this.defer(() => rmSync(dir, { recursive: true, force: true }))
    return dir
  }

  async run(): Promise<void> {
    const failures: unknown[] = []
    for (const step of this.steps.splice(0).reverse()) {
      try {
        await step()
      } catch (error) {
        failures.push(error)
      }
    }
    if (failures.length > 0) throw failures[0]
  }
}
