import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runTool } from '@fluxmq/testing'
import type { TlsFiles } from '../tls.js'

async function openssl(args: string[]): Promise<void> {
  const result = await runTool('openssl', args, { timeoutMs: 20_000 })
  if (result.status !== 0) throw new Error(`openssl ${args[0]} failed (${result.status}): ${result.stderr}`)
}

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']

/** A test CA in `dir` that signs node certificates valid for 127.0.0.1 as both server and client. */
export async function makeCa(dir: string, name: string): Promise<{ issue(node: string): Promise<TlsFiles> }> {
  const caCert = join(dir, `${name}.crt`)
  const caKey = join(dir, `${name}.key`)
  await openssl(['req', '-x509', ...KEY, '-keyout', caKey, '-out', caCert, '-days', '1', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
  const extensions = join(dir, `${name}.ext`)
  writeFileSync(extensions, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n')
  return {
    async issue(node: string): Promise<TlsFiles> {
      const keyFile = join(dir, `${name}-${node}.key`)
      const csr = join(dir, `${name}-${node}.csr`)
      const certFile = join(dir, `${name}-${node}.crt`)
      await openssl(['req', ...KEY, '-keyout', keyFile, '-out', csr, '-subj', `/CN=${node}`])
      await openssl(['x509', '-req', '-in', csr, '-CA', caCert, '-CAkey', caKey, '-CAcreateserial', '-out', certFile, '-days', '1', '-extfile', extensions])
      return { certFile, keyFile, caFile: caCert }
    },
  }
}
