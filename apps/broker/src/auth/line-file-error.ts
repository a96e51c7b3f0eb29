/**
 * An error in a line-oriented file the broker reads (password file, ACL file): the message names
 * the path and, when known, the line (`path:line: reason`), so the user can open the spot.
 * Line 0 means the file as a whole (unreadable, missing).
 */
export abstract class LineFileError extends Error {
  abstract readonly code: string
  constructor(
    readonly path: string,
    readonly line: number,
    reason: string,
  ) {
    super(line > 0 ? `${path}:${line}: ${reason}` : `${path}: ${reason}`)
  }
}
