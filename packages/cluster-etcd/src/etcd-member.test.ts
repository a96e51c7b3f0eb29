import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { Cleanup, freePorts, makeSelfSignedCertificate, RecordingLogger, withTimeout } from '@fluxmq/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { connectEtcd } from './client.js'
import { ClusterErrorCode } from './errors.js'
import { EtcdMember, type EtcdMemberOptions } from './etcd-member.js'
import { isRunning, pidFilePath, writePidFile } from './pid-file.js'
import { startEtcdCluster } from './test-support/etcd-cluster.js'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

async function memberOptions(logger: RecordingLogger, dataDir = join(cleanup.tempDir('fluxmq-etcd-'), 'm1')): Promise<EtcdMemberOptions> {
  const [client, peer] = await freePorts(2)
  return { binary: 'etcd', name: 'm1', dataDir, clientAddr: `127.0.0.1:${client}`, peerAddr: `127.0.0.1:${peer}`, logger, stopGraceMs: 5_000 }
}

async function putAndGet(clientUrl: string, key: string, value?: string): Promise<string | null> {
  const connection = connectEtcd('member-test', { endpoints: [clientUrl], callTimeoutMs: 2_000 })
  try {
    if (value !== undefined) await connection.namespace.put(key).value(value)
    return await connection.namespace.get(key).string()
  } finally {
    connection.close()
  }
}

describe('EtcdMember', () => {
  it('starts a healthy member with a pid file, logs its output, and stops it', async () => {
    const logger = new RecordingLogger()
    const options = await memberOptions(logger)
    const member = cleanup.add(new EtcdMember(options), (m) => m.stop())
    await member.start()
    const pid = member.pid
    expect(pid).toBeTypeOf('number')
    expect(readFileSync(pidFilePath(options.dataDir), 'utf8').trim()).toBe(String(pid))
    expect(await putAndGet(member.clientUrl, 'k', 'v')).toBe('v')
    expect(logger.lines.some((line) => line.msg === 'etcd member healthy')).toBe(true)
    // etcd's own JSON lines arrive one structured record each, tagged with the member name.
    expect(logger.lines.some((line) => line.obj.etcdMember === 'm1' && line.obj.caller !== undefined)).toBe(true)

    await member.stop()
    expect(isRunning(pid as number)).toBe(false)
    expect(existsSync(pidFilePath(options.dataDir))).toBe(false)
  })

  it('runs raft with pre-vote, so a member back from a partition does not depose the leader', async () => {
    const logger = new RecordingLogger()
    const member = cleanup.add(new EtcdMember(await memberOptions(logger)), (m) => m.stop())
    await member.start()
    // etcd states its raft settings when it starts.
    expect(logger.lines.find((line) => line.obj.etcdMember === 'm1' && line.obj['pre-vote'] !== undefined)?.obj['pre-vote']).toBe(true)
    await member.stop()
  })

  it('restarts a member that dies, on the same data', async () => {
    const logger = new RecordingLogger()
    const member = cleanup.add(new EtcdMember({ ...(await memberOptions(logger)), restartBackoffMs: { min: 100, max: 1_000 } }), (m) => m.stop())
    await member.start()
    await putAndGet(member.clientUrl, 'before', 'kept')
    const first = member.pid as number
    const restarted = new Promise<number>((resolve) => member.onRestarted(resolve))
    process.kill(first, 'SIGKILL')
    const second = await withTimeout(restarted, 30_000, 'the supervisor to restart etcd')
    expect(second).not.toBe(first)
    expect(await putAndGet(member.clientUrl, 'before')).toBe('kept')
    expect(logger.lines.find((line) => line.msg === 'etcd member died, restarting')?.obj).toMatchObject({ signal: 'SIGKILL', attempt: 1 })
  })

  it('replaces the orphan member a SIGKILLed broker left on its data dir', async () => {
    const logger = new RecordingLogger()
    const options = await memberOptions(logger)
    const { logger: _, ...serialisable } = options
    const broker = spawn(process.execPath, [join(import.meta.dirname, 'test-support/killable-broker.mjs'), JSON.stringify(serialisable)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    cleanup.defer(() => broker.kill('SIGKILL'))
    const lines = createInterface({ input: broker.stdout })
    const orphan = Number(await withTimeout(new Promise<string>((resolve) => lines.once('line', resolve)), 30_000, 'the broker to start etcd'))
    cleanup.defer(() => isRunning(orphan) && process.kill(orphan, 'SIGKILL'))
    await putAndGet(`http://${options.clientAddr}`, 'before', 'kept')
    broker.kill('SIGKILL')
    await new Promise((resolve) => broker.once('exit', resolve))
    expect(isRunning(orphan)).toBe(true)

    const member = cleanup.add(new EtcdMember(options), (m) => m.stop())
    await member.start()
    expect(isRunning(orphan)).toBe(false)
    expect(member.pid).not.toBe(orphan)
    expect(logger.lines.find((line) => line.msg?.startsWith('orphan etcd member'))?.obj.pid).toBe(orphan)
    expect(await putAndGet(member.clientUrl, 'before')).toBe('kept')
  })

  it('never signals an unrelated process whose pid a stale pid file names', async () => {
    const logger = new RecordingLogger()
    const options = await memberOptions(logger)
    const member = cleanup.add(new EtcdMember(options), (m) => m.stop())
    const { mkdirSync } = await import('node:fs')
    mkdirSync(options.dataDir, { recursive: true })
    writePidFile(options.dataDir, process.pid)
    await member.start()
    expect(logger.lines.find((line) => line.msg?.startsWith('stale etcd pid file'))?.obj.pid).toBe(process.pid)
    expect(member.pid).not.toBe(process.pid)
  })

  it('fails start with a typed error when the binary does not exist', async () => {
    const logger = new RecordingLogger()
    const member = new EtcdMember({ ...(await memberOptions(logger)), binary: '/nonexistent/etcd' })
    await expect(member.start()).rejects.toMatchObject({ code: ClusterErrorCode.EtcdStart })
  })
})

describe('EtcdMember with TLS', () => {
  it('serves its client and peer ports over TLS and refuses clients without a certificate', async () => {
    const dir = cleanup.tempDir('fluxmq-etcd-tls-')
    const { certFile, keyFile } = await makeSelfSignedCertificate(dir)
    const tls = { certFile, keyFile, caFile: certFile }
    const etcd = await startEtcdCluster(cleanup, 3, { tls })
    expect(etcd.endpoints.every((url) => url.startsWith('https://'))).toBe(true)
    const { namespace } = etcd.connect('tls', [etcd.endpoints[0] as string])
    await namespace.put('k').value('over tls')
    // Written through member 1, read through member 3: the peers replicate over TLS too.
    expect(await etcd.connect('tls', [etcd.endpoints[2] as string]).namespace.get('k').string()).toBe('over tls')

    const anonymous = connectEtcd('tls', { endpoints: [etcd.endpoints[0] as string], callTimeoutMs: 2_000, tls: { caFile: certFile } })
    cleanup.defer(() => anonymous.close())
    // The member's TLS alert: the client presented no certificate it trusts.
    await expect(anonymous.namespace.get('k').string()).rejects.toThrow(/bad certificate/)
  })
})
