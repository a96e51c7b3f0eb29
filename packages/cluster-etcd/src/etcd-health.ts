import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'

export interface HealthTls {
  readonly ca: Buffer
  readonly cert: Buffer
  readonly key: Buffer
}

/**
 * One GET of etcd's `/health`: true when the member answers `{"health":"true"}` (it has a leader and
 * no alarm). Errors and timeouts are simply "not healthy"; the caller decides how long to wait.
 */
export function checkHealth(clientUrl: string, tls: HealthTls | undefined, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const url = new URL('/health', clientUrl)
    const options = { timeout: timeoutMs, ...(tls === undefined ? {} : tls) }
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, options, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => {
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { health?: unknown }
          resolve(res.statusCode === 200 && body.health === 'true')
        } catch {
          resolve(false)
        }
      })
      res.on('error', () => resolve(false))
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(false))
    req.end()
  })
}
