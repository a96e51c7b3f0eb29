/*
 * What @fluxmq/queue shares with the SQLite backend of this package, so that both database files
 * are opened, tuned, committed and encoded one way. Not a public API: it changes with its one
 * consumer (STYLE.md, "a sibling needs an internal? export it deliberately as ./internal").
 */
export { GroupCommit } from './group-commit.js'
export { StorageError } from './errors.js'
export type { GroupCommitStats, Schedule, StagedOp } from './group-commit.js'
export { openSqlite } from './sqlite/database.js'
export type { SyncMode } from './sqlite/database.js'
export { MESSAGE_FIELD_COLUMNS, MESSAGE_FIELD_NAMES, MESSAGE_FIELDS_SELECTED, decodeMessageRow, messageValues } from './sqlite/messages.js'
export type { MessageFieldsRow } from './sqlite/messages.js'
