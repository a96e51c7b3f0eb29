import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { storageConformanceSuite } from './conformance.js'
import { SqliteStorage } from './sqlite/sqlite-storage.js'

for (const sync of ['normal', 'full'] as const) {
  storageConformanceSuite(`SqliteStorage (sync: ${sync})`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fluxmq-storage-'))
    return {
      storage: new SqliteStorage({ dir, sync }),
      reopen: async () => new SqliteStorage({ dir, sync }),
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    }
  })
}
