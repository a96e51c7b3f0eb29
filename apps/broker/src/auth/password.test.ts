import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Refusal } from '@fluxmq/core'
import type { AuthRequest } from '@fluxmq/core'
import { afterAll, describe, expect, it } from 'vitest'
import { PasswordAuthenticator } from './password-authenticator.js'
import { PasswordFileError, parsePasswordFile, readPasswordFile, updatePasswordFile } from './password-file.js'
import { hashPassword, parseHash, verifyPassword } from './password-hash.js'

const dir = mkdtempSync(join(tmpdir(), 'fluxmq-passwd-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('password hashes', () => {
  it('verifies the right password and refuses a wrong one', async () => {
    const text = await hashPassword(Buffer.from('correct horse'))
    expect(text).toMatch(/^\$scrypt\$ln=14,r=8,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/)
    const hash = parseHash(text)
    expect(hash).toBeDefined()
    expect(await verifyPassword(Buffer.from('correct horse'), hash!)).toBe(true)
    expect(await verifyPassword(Buffer.from('correct horsf'), hash!)).toBe(false)
  })

  it('salts every hash', async () => {
    expect(await hashPassword(Buffer.from('x'))).not.toBe(await hashPassword(Buffer.from('x')))
  })

  it.each([
    'plain',
    '$scrypt$ln=14,r=8,p=1$c2FsdHNhbHQ',
    '$scrypt$ln=40,r=8,p=1$c2FsdHNhbHQ$' + 'A'.repeat(43),
    '$scrypt$ln=14,r=8,p=99$c2FsdHNhbHQ$' + 'A'.repeat(43),
    '$scrypt$ln=14,r=8,p=1$c2FsdHNhbHQ$AAAA',
  ])('refuses malformed or too costly hash %j', (text) => expect(parseHash(text)).toBeUndefined())
})

describe('password file', () => {
  it('adds, replaces and removes users keeping other lines, mode 0600', async () => {
    const file = join(dir, 'passwd-update')
    writeFileSync(file, '# operators\n')
    const first = await hashPassword(Buffer.from('one'))
    const second = await hashPassword(Buffer.from('two'))
    expect(updatePasswordFile(file, 'alice', first)).toBe(true)
    expect(updatePasswordFile(file, 'bob', first)).toBe(true)
    expect(updatePasswordFile(file, 'alice', second)).toBe(true)
    expect(readFileSync(file, 'utf8')).toBe(`# operators\nalice:${second}\nbob:${first}\n`)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(updatePasswordFile(file, 'alice', null)).toBe(true)
    expect(updatePasswordFile(file, 'carol', null)).toBe(false)
    expect([...readPasswordFile(file).keys()]).toEqual(['bob'])
  })

  it('creates a missing file', async () => {
    const file = join(dir, 'passwd-new')
    updatePasswordFile(file, 'dave', await hashPassword(Buffer.from('d')))
    expect(readPasswordFile(file).has('dave')).toBe(true)
  })

  it.each([
    ['alice\n', 1],
    ['# c\n\nalice:notahash\n', 3],
    [':$scrypt$ln=14,r=8,p=1$c2FsdHNhbHQ$' + 'A'.repeat(43) + '\n', 1],
  ])('refuses %j naming line %i', (text, line) => {
    try {
      parsePasswordFile(text, '/etc/fluxmq/passwd')
      expect.unreachable()
    } catch (error) {
      expect(error).toBeInstanceOf(PasswordFileError)
      expect((error as PasswordFileError).line).toBe(line)
      expect((error as PasswordFileError).message).toMatch(new RegExp(`^/etc/fluxmq/passwd:${line}: `))
    }
  })

  it('refuses a user listed twice', async () => {
    const line = `alice:${await hashPassword(Buffer.from('a'))}\n`
    expect(() => parsePasswordFile(line + line, 'f')).toThrow(/f:2: user "alice" appears twice/)
  })

  it('reports an unreadable file with its path', () => {
    expect(() => readPasswordFile(join(dir, 'absent'))).toThrow(PasswordFileError)
  })
})

describe('PasswordAuthenticator', () => {
  const request = (fields: Partial<AuthRequest>): AuthRequest => ({ clientId: 'c1', protocol: 'mqtt5', step: 0, ...fields })
  const users = (async () => {
    const text = `alice:${await hashPassword(Buffer.from('wonderland'))}\n`
    return parsePasswordFile(text, 'passwd')
  })()

  it('accepts the right password and reports the username', async () => {
    const auth = new PasswordAuthenticator(await users, false)
    expect(await auth.authenticate(request({ username: 'alice', password: Buffer.from('wonderland') }))).toEqual({ outcome: 'success', username: 'alice' })
  })

  it('refuses a wrong password, an unknown user and a missing password with 0x86', async () => {
    const auth = new PasswordAuthenticator(await users, true)
    for (const fields of [
      { username: 'alice', password: Buffer.from('Wonderland') },
      { username: 'mallory', password: Buffer.from('wonderland') },
      { username: 'alice' },
    ]) {
      const result = await auth.authenticate(request(fields))
      expect(result.outcome === 'failure' && result.reason).toBe(Refusal.BadCredentials)
    }
  })

  it('lets anonymous clients in only when allowed', async () => {
    expect((await new PasswordAuthenticator(await users, true).authenticate(request({}))).outcome).toBe('success')
    const refused = await new PasswordAuthenticator(await users, false).authenticate(request({}))
    expect(refused.outcome === 'failure' && refused.reason).toBe(Refusal.NotAuthorized)
  })

  it('refuses enhanced authentication methods with 0x8C', async () => {
    const result = await new PasswordAuthenticator(await users, true).authenticate(request({ username: 'alice', method: 'SCRAM-SHA-256' }))
    expect(result.outcome === 'failure' && result.reason).toBe(Refusal.BadAuthenticationMethod)
  })
})
