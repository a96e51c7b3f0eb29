import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto'
import type { ScryptOptions } from 'node:crypto'

/**
 * Password hashes in PHC string form: `$scrypt$ln=14,r=8,p=1$<salt>$<hash>` (unpadded base64).
 * N = 2^14, r = 8 costs 16 MiB and a few tens of milliseconds per check on the libuv pool: slow
 * for an offline attacker, affordable for a burst of reconnecting clients.
 */
const DEFAULT_PARAMS = { ln: 14, r: 8, p: 1 } as const
const SALT_BYTES = 16
const KEY_BYTES = 32
const FORMAT = /^\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/

export interface ScryptHash {
  readonly ln: number
  readonly r: number
  readonly p: number
  readonly salt: Buffer
  readonly key: Buffer
}

function derive(password: Buffer, salt: Buffer, params: { ln: number; r: number; p: number }, length: number): Promise<Buffer> {
  const N = 2 ** params.ln
  const options: ScryptOptions = { N, r: params.r, p: params.p, maxmem: 256 * N * params.r + 1024 * 1024 }
  return new Promise((resolve, reject) => {
    scrypt(password, salt, length, options, (error, key) => (error === null ? resolve(key) : reject(error)))
  })
}

function b64(buffer: Buffer): string {
  return buffer.toString('base64').replace(/=+$/, '')
}

export async function hashPassword(password: Buffer): Promise<string> {
  const salt = randomBytes(SALT_BYTES)
  const key = await derive(password, salt, DEFAULT_PARAMS, KEY_BYTES)
  return `$scrypt$ln=${DEFAULT_PARAMS.ln},r=${DEFAULT_PARAMS.r},p=${DEFAULT_PARAMS.p}$${b64(salt)}$${b64(key)}`
}

/**
 * Parses a stored hash, or returns undefined when it is malformed or its cost is out of the range
 * this broker will compute (a hostile file must not make every CONNECT allocate gigabytes).
 */
export function parseHash(text: string): ScryptHash | undefined {
  const match = FORMAT.exec(text)
  if (match === null) return undefined
  const [ln, r, p] = [Number(match[1]), Number(match[2]), Number(match[3])]
  const salt = Buffer.from(match[4] as string, 'base64')
  const key = Buffer.from(match[5] as string, 'base64')
  if (ln < 10 || ln > 20 || r < 1 || r > 32 || p < 1 || p > 16) return undefined
  if (salt.length < 8 || key.length < 16 || key.length > 64) return undefined
  return { ln, r, p, salt, key }
}

/** Recomputes the hash and compares in constant time. */
export async function verifyPassword(password: Buffer, hash: ScryptHash): Promise<boolean> {
  const key = await derive(password, hash.salt, hash, hash.key.length)
  return timingSafeEqual(key, hash.key)
}
