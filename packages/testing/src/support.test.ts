import { existsSync } from 'node:fs'
import { createSecureContext } from 'node:tls'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { Cleanup } from './cleanup.js'
import { withTimeout } from './deadline.js'
import { metricValue } from './metrics.js'
import { makeSelfSignedCertificate } from './tls.js'
import { runTool } from './tools.js'

describe('Cleanup', () => {
  it('undoes in reverse order, runs every step although one fails, then throws the first failure', async () => {
    const cleanup = new Cleanup()
    const order: string[] = []
    cleanup.defer(() => order.push('first'))
    cleanup.defer(() => {
      throw new Error('second failed')
    })
    const value = cleanup.add({ name: 'third' }, (item) => order.push(item.name))
    expect(value.name).toBe('third')
    await expect(cleanup.run()).rejects.toThrow('second failed')
    expect(order).toEqual(['third', 'first'])
    await cleanup.run()
    expect(order).toEqual(['third', 'first'])
  })

  it('removes its temp dirs', async () => {
    const cleanup = new Cleanup()
    const dir = cleanup.tempDir()
    expect(existsSync(dir)).toBe(true)
    await cleanup.run()
    expect(existsSync(dir)).toBe(false)
  })
})

describe('withTimeout', () => {
  it('passes the value through, or rejects naming what was awaited', async () => {
    expect(await withTimeout(Promise.resolve(5), 1_000, 'five')).toBe(5)
    await expect(withTimeout(new Promise(() => undefined), 10, () => 'the answer')).rejects.toThrow('timed out after 10 ms waiting for the answer')
  })
})

describe('metricValue', () => {
  it('reads a sample by exact name and labels', () => {
    const text = '# HELP fluxmq_connections x\nfluxmq_connections 3\nfluxmq_connections_total 9\nfluxmq_build_info{node="n",version="1"} 1\n'
    expect(metricValue(text, 'fluxmq_connections')).toBe(3)
    expect(metricValue(text, 'fluxmq_connections_total')).toBe(9)
    expect(metricValue(text, 'fluxmq_build_info', '{node="n",version="1"}')).toBe(1)
    expect(metricValue(text, 'fluxmq_sessions')).toBeUndefined()
  })
})

describe('runTool', () => {
  it('returns status and output, and kills a tool that overruns its timeout', async () => {
    expect(await runTool('sh', ['-c', 'echo out; echo err >&2; exit 3'])).toEqual({ status: 3, stdout: 'out\n', stderr: 'err\n' })
    expect((await runTool('cat', [], { stdin: 'piped' })).stdout).toBe('piped')
    await expect(runTool('sleep', ['30'], { timeoutMs: 50 })).rejects.toThrow(/timed out after 50 ms waiting for sleep 30/)
  })
})

describe('makeSelfSignedCertificate', () => {
  it('writes a certificate and key that Node accepts as a pair', async () => {
    const cleanup = new Cleanup()
    try {
      const { certFile, keyFile } = await makeSelfSignedCertificate(cleanup.tempDir())
      expect(() => createSecureContext({ cert: readFileSync(certFile), key: readFileSync(keyFile) })).not.toThrow()
    } finally {
      await cleanup.run()
    }
  })
})
