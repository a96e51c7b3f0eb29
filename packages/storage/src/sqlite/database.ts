import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { StorageError, StorageErrorCode, describeCause } from '../errors.js'
import { migrate } from './schema.js'

export const DATABASE_FILE = 'fluxmq.db'

export type SyncMode = 'normal' | 'full'

/** How long opening waits for a previous owner of the file (a broker still shutting down). */
const LOCK_TIMEOUT_MS = 1000

/**
 * The pragmas of every FluxMQ database file (the session store's and the queue engine's), right
 * after it is opened and before its schema is read.
 */
function applyPragmas(db: Database.Database, sync: SyncMode): void {
  // Exclusive before WAL: the lock is held for the life of the process, so a second broker on
  // the same directory fails at start-up instead of interleaving writes, and WAL runs without
  // the shared-memory index.
  db.pragma('locking_mode = EXCLUSIVE')
  db.pragma('journal_mode = WAL')
  // WAL + NORMAL: a commit is in the OS once it returns (survives a process crash); FULL also
  // fsyncs the WAL at every commit (survives power loss).
  db.pragma(`synchronous = ${sync === 'full' ? 'FULL' : 'NORMAL'}`)
  // Checkpoints fsync; with the default of 1000 pages a commit that appends to many offline
  // sessions (one dirty page each) checkpoints every time. 8192 pages (32 MiB) of WAL also
  // bounds what a restart after a crash has to read back.
  db.pragma('wal_autocheckpoint = 8192')
  db.pragma('journal_size_limit = 67108864')
  db.pragma('cache_size = -65536')
  db.pragma('temp_store = MEMORY')
}

/**
 * Opens `<dir>/fluxmq.db` (creating the directory and the file), applies the pragmas and
 * migrates the schema. Every failure is a StorageError naming the file and the reason; a file
 * SQLite cannot read is never replaced by an empty database.
 */
export function openDatabase(dir: string, sync: SyncMode): { db: Database.Database; path: string } {
  return openSqlite(dir, DATABASE_FILE, sync, migrate)
}

/**
 * Opens `<dir>/<file>` as openDatabase does, with `schema` bringing its schema up to date (the
 * queue engine's file has its own). What `schema` throws comes back as the `cause` of the
 * StorageError.
 */
export function openSqlite(
  dir: string,
  file: string,
  sync: SyncMode,
  schema: (db: Database.Database, path: string) => void,
): { db: Database.Database; path: string } {
  const path = join(dir, file)
  try {
    mkdirSync(dir, { recursive: true })
  } catch (cause) {
    throw new StorageError(StorageErrorCode.Open, dir, `cannot create storage directory: ${describeCause(cause)}`, { cause })
  }
  let db: Database.Database
  try {
    db = new Database(path, { timeout: LOCK_TIMEOUT_MS })
  } catch (cause) {
    throw new StorageError(StorageErrorCode.Open, path, `cannot open database: ${describeCause(cause)}`, { cause })
  }
  try {
    applyPragmas(db, sync)
    schema(db, path)
    return { db, path }
  } catch (cause) {
    db.close()
    throw asStorageError(cause, path, 'cannot open database')
  }
}

/** Maps SQLite's result codes to the StorageError a user can act on. */
export function asStorageError(
  cause: unknown,
  path: string,
  doing: string,
  otherwise: StorageErrorCode = StorageErrorCode.Open,
): StorageError {
  if (cause instanceof StorageError) return cause
  const sqliteCode = (cause as { code?: unknown } | null)?.code
  const reason = describeCause(cause)
  if (sqliteCode === 'SQLITE_NOTADB' || (typeof sqliteCode === 'string' && sqliteCode.startsWith('SQLITE_CORRUPT'))) {
    return new StorageError(StorageErrorCode.Corrupt, path, `${doing}: database file is damaged: ${reason}`, { cause })
  }
  if (typeof sqliteCode === 'string' && (sqliteCode.startsWith('SQLITE_BUSY') || sqliteCode.startsWith('SQLITE_LOCKED'))) {
    return new StorageError(
      StorageErrorCode.Locked,
      path,
      `${doing}: database is in use by another process (is another broker using this storage.dir?): ${reason}`,
      { cause },
    )
  }
  return new StorageError(otherwise, path, `${doing}: ${reason}`, { cause })
}
