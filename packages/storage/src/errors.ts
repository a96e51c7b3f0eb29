import { Refusal } from '@fluxmq/core'

/** Stable codes; never reused for another meaning. */
export const StorageErrorCode = {
  /** The directory or file cannot be created or opened (permissions, not a directory, …). */
  Open: 'FLUXMQ_ERR_STORAGE_OPEN',
  /** The file exists but SQLite cannot read it as a database (garbage, truncated, damaged pages). */
  Corrupt: 'FLUXMQ_ERR_STORAGE_CORRUPT',
  /** The file is a SQLite database that another application made. */
  Foreign: 'FLUXMQ_ERR_STORAGE_FOREIGN',
  /** The schema is newer than this build understands (a downgrade): refused rather than misread. */
  SchemaTooNew: 'FLUXMQ_ERR_STORAGE_SCHEMA_TOO_NEW',
  /** Another process holds the database (two brokers on one storage.dir). */
  Locked: 'FLUXMQ_ERR_STORAGE_LOCKED',
  /** A group commit failed: what it held is lost and the store refuses further work. */
  Commit: 'FLUXMQ_ERR_STORAGE_COMMIT',
  /** A read failed. */
  Read: 'FLUXMQ_ERR_STORAGE_READ',
  /** Used before open() or after close(). */
  Closed: 'FLUXMQ_ERR_STORAGE_CLOSED',
} as const
export type StorageErrorCode = (typeof StorageErrorCode)[keyof typeof StorageErrorCode]

export interface StorageErrorOptions {
  readonly cause?: unknown
  /** Defaults to server_unavailable: the broker cannot promise persistence right now. */
  readonly reason?: Refusal
}

export class StorageError extends Error {
  override readonly name = 'StorageError'
  readonly code: StorageErrorCode
  /** The database file (or directory) the error is about. */
  readonly path: string
  /** What a protocol adapter answers when this error ends an operation. */
  readonly reason: Refusal

  constructor(code: StorageErrorCode, path: string, message: string, options: StorageErrorOptions = {}) {
    super(`${message} (${path})`, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.path = path
    this.reason = options.reason ?? Refusal.ServerUnavailable
  }
}

/** The text of whatever was thrown, for error messages that must name the reason. */
export function describeCause(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause)
}
