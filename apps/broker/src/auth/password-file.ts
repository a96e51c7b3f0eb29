import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { parseHash } from './password-hash.js'
import type { ScryptHash } from './password-hash.js'
import { LineFileError } from './line-file-error.js'

/**
 * The password file: one `username:hash` line per user (hash as written by `fluxmq passwd`);
 * blank lines and lines starting with "#" are ignored. A username cannot contain ":" or
 * whitespace.
 */
export class PasswordFileError extends LineFileError {
  override readonly name = 'PasswordFileError'
  readonly code = 'FLUXMQ_ERR_PASSWORD_FILE'
}

const USERNAME = /^[^\s:]+$/

export function isValidUsername(username: string): boolean {
  return USERNAME.test(username)
}

export function parsePasswordFile(text: string, path: string): Map<string, ScryptHash> {
  const users = new Map<string, ScryptHash>()
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const colon = line.indexOf(':')
    const username = line.slice(0, colon)
    if (colon <= 0 || !isValidUsername(username)) throw new PasswordFileError(path, index + 1, 'expected "username:hash"')
    const hash = parseHash(line.slice(colon + 1))
    if (hash === undefined) throw new PasswordFileError(path, index + 1, `the hash of user "${username}" is not a supported scrypt hash (write it with "fluxmq passwd")`)
    if (users.has(username)) throw new PasswordFileError(path, index + 1, `user "${username}" appears twice`)
    users.set(username, hash)
  }
  return users
}

export function readPasswordFile(path: string): Map<string, ScryptHash> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    throw new PasswordFileError(path, 0, (error as Error).message)
  }
  return parsePasswordFile(text, path)
}

/**
 * Sets (hash given) or removes (hash null) one user's line, keeping every other line as it was.
 * Written to a temporary file and renamed, so a crash never leaves a half-written file, with mode
 * 0600 because the file holds password hashes. Returns false when removing a user that is absent.
 */
export function updatePasswordFile(path: string, username: string, hash: string | null): boolean {
  let lines: string[] = []
  try {
    lines = readFileSync(path, 'utf8').split('\n')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new PasswordFileError(path, 0, (error as Error).message)
  }
  if (lines.at(-1) === '') lines.pop()
  const index = lines.findIndex((line) => line.trim().startsWith(`${username}:`))
  if (hash === null) {
    if (index < 0) return false
    lines.splice(index, 1)
  } else if (index >= 0) {
    lines[index] = `${username}:${hash}`
  } else {
    lines.push(`${username}:${hash}`)
  }
  const temporary = `${path}.${process.pid}.tmp`
  try {
    writeFileSync(temporary, lines.map((line) => `${line}\n`).join(''), { mode: 0o600 })
    renameSync(temporary, path)
  } catch (error) {
    rmSync(temporary, { force: true })
    throw new PasswordFileError(path, 0, (error as Error).message)
  }
  return true
}
