import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { parsePasswordFile } from '../auth/password-file.js'
import { verifyPassword } from '../auth/password-hash.js'
import { VERSION } from '../version.js'
import { ExitCode } from './lifecycle.js'
import { runCli } from './test-support/run-cli.js'

const dir = mkdtempSync(join(tmpdir(), 'fluxmq-cli-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))


describe('main', () => {
  it('prints usage and version', async () => {
    expect(await runCli(['--help'])).toMatchObject({ code: ExitCode.Ok, out: expect.stringContaining('fluxmq passwd FILE USERNAME') })
    expect(await runCli(['--version'])).toEqual({ code: ExitCode.Ok, out: `fluxmq ${VERSION}\n`, err: '' })
  })

  it('--help lists the main keys with their real defaults and names the full reference, a file that exists', async () => {
    const { out } = await runCli(['--help'])
    expect(out).toMatch(/^ {2}server\.mqtt\.tcp\.addr +:1883 +MQTT over TCP/m)
    expect(out).toMatch(/^ {2}storage\.type +memory +/m)
    expect(out).toMatch(/^ {2}log\.format +auto +/m)
    const reference = /the full reference, every\s+key with its default and meaning: (\S+) \(section "Keys"\)/i.exec(out)?.[1]
    expect(reference).toBeDefined()
    expect(readFileSync(reference as string, 'utf8')).toContain('### Keys')
  })

  it('check-config prints the effective config from every source', async () => {
    const result = await runCli(['check-config', '--set', 'broker.max_qos=1'], { env: { FLUXMQ_LOG_LEVEL: 'debug' } })
    expect(result.code).toBe(ExitCode.Ok)
    expect(result.out).toContain('max_qos: 1')
    expect(result.out).toContain('level: debug')
    expect(result.err).toBe('')
  })

  it('check-config exits 2 with one line naming the key, no stack trace', async () => {
    const result = await runCli(['check-config', '--set', 'limits.connect_timeout=soon'])
    expect(result.code).toBe(ExitCode.Usage)
    expect(result.err).toBe('fluxmq: invalid value for limits.connect_timeout: "soon" (from --set); expected a duration such as "500ms", "30s", "2h" or "1h30m", at least 100ms\n')
  })

  it('check-config reports conflicts and unsupported features with exit 2', async () => {
    expect((await runCli(['check-config', '--set', 'auth.allow_anonymous=false'])).err).toMatch(/^fluxmq: auth\.password_file: /)
    expect((await runCli(['check-config', '--set', 'cluster.enabled=true', '--set', 'cluster.node_id=n1', '--set', 'cluster.raft.enabled=true'])).code).toBe(ExitCode.Usage)
  })

  it('usage errors exit 2 and point at --help', async () => {
    const result = await runCli(['--nope'])
    expect(result.code).toBe(ExitCode.Usage)
    expect(result.err).toMatch(/Run "fluxmq --help" for usage\.\n$/)
  })

  it('passwd reads the password from stdin and writes a verifiable scrypt line', async () => {
    const file = join(dir, 'passwd')
    expect((await runCli(['passwd', file, 'alice'], { stdin: 's3cret\nignored\n' })).code).toBe(ExitCode.Ok)
    const hash = parsePasswordFile(readFileSync(file, 'utf8'), file).get('alice')
    expect(hash).toBeDefined()
    expect(await verifyPassword(Buffer.from('s3cret'), hash!)).toBe(true)
  })

  it('passwd takes --password, removes with --delete, refuses empty passwords and bad names', async () => {
    const file = join(dir, 'passwd-2')
    expect((await runCli(['passwd', file, 'bob', '--password', 'pw'])).code).toBe(ExitCode.Ok)
    expect(readFileSync(file, 'utf8')).toMatch(/^bob:\$scrypt\$/)
    expect((await runCli(['passwd', file, 'bob', '--delete'])).code).toBe(ExitCode.Ok)
    expect(readFileSync(file, 'utf8')).toBe('')
    expect((await runCli(['passwd', file, 'bob', '--delete'])).err).toContain('user "bob" is not in')
    expect((await runCli(['passwd', file, 'carol'], { stdin: '\n' })).err).toContain('must not be empty')
    expect((await runCli(['passwd', file, 'a:b', '--password', 'x'])).code).toBe(ExitCode.Usage)
  })

  it('passwd exits 1 with the path when the file cannot be written', async () => {
    const file = join(dir, 'no-such-dir', 'passwd')
    const result = await runCli(['passwd', file, 'eve', '--password', 'x'])
    expect(result.code).toBe(ExitCode.Failure)
    expect(result.err).toMatch(new RegExp(`^fluxmq: ${file}: ENOENT`))
  })
})

describe('check-config with files named by keys', () => {
  it('reads the password and ACL files as start-up would, naming the key', async () => {
    const acl = join(dir, 'acl-bad')
    writeFileSync(acl, 'topic read a/#/b\n')
    const result = await runCli(['check-config', '--set', `auth.acl_file=${acl}`])
    expect(result.code).toBe(ExitCode.Usage)
    expect(result.err).toBe(`fluxmq: auth.acl_file: ${acl}:1: "a/#/b": expected a valid MQTT topic filter ("+" and "#" as whole levels, "#" last)\n`)
  })
})
