import { join } from 'node:path'
import { runTool } from './tools.js'

export interface CertificateFiles {
  readonly certFile: string
  readonly keyFile: string
}

/**
 * A self-signed certificate for 127.0.0.1 / localhost, made with `openssl` into `dir`. Clients
 * trust it by using the certificate itself as their CA.
 */
export async function makeSelfSignedCertificate(dir: string, commonName = 'localhost'): Promise<CertificateFiles> {
  const certFile = join(dir, 'server.crt')
  const keyFile = join(dir, 'server.key')
  const result = await runTool(
    'openssl',
    [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', keyFile, '-out', certFile, '-days', '1',
      '-subj', `/CN=${commonName}`,
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { timeoutMs: 20_000 },
  )
  if (result.status !== 0) throw new Error(`openssl failed (${result.status}): ${result.stderr}`)
  return { certFile, keyFile }
}
