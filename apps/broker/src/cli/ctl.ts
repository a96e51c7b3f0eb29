import type { Writable } from 'node:stream'
import type { Address } from '../config/units.js'
import { UsageError } from './args.js'
import type { CtlCommand, CtlQuery } from './args.js'
import { formatAnswer } from './ctl-format.js'

/** The node could not be asked, or answered with a refusal or "not found": exit 1. */
export class CtlError extends Error {
  override readonly name = 'CtlError'
  readonly code = 'FLUXMQ_ERR_CTL'
}

/** What ctl needs from the configuration when --url / --token are not given. */
export interface CtlDefaults {
  readonly addr: Address | null
  readonly token: string
}

/** A request that hangs (a stopped process still holding its port) must not hang the command. */
const TIMEOUT_MS = 10_000

/**
 * The base URL of a node's HTTP listener. A wildcard bind address is reached on loopback, since
 * ctl normally runs on the broker's own machine.
 */
export function baseUrl(command: Pick<CtlCommand, 'url'>, defaults: CtlDefaults): string {
  if (command.url !== undefined) {
    let url: URL
    try {
      url = new URL(command.url)
    } catch {
      throw new UsageError(`--url must be an http(s) URL such as http://127.0.0.1:8081, got "${command.url}"`)
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--url must be http or https, got "${command.url}"`)
    return url.href.replace(/\/+$/, '')
  }
  const addr = defaults.addr
  if (addr === null) throw new UsageError('the HTTP listener is disabled (server.http.addr is ""); pass --url')
  const wildcard = addr.host === '' || addr.host === '0.0.0.0' || addr.host === '::'
  const host = wildcard ? (addr.host === '::' ? '::1' : '127.0.0.1') : addr.host
  return `http://${host.includes(':') ? `[${host}]` : host}:${addr.port}`
}

interface Answer {
  readonly status: number
  readonly body: unknown
}

async function get(base: string, path: string, token: string): Promise<Answer> {
  let response: Response
  try {
    response = await fetch(`${base}${path}`, {
      headers: token === '' ? {} : { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(TIMEOUT_MS),
    })
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause
    const reason = cause?.code ?? cause?.message ?? (error as Error).message
    throw new CtlError(`cannot reach ${base}: ${reason}`)
  }
  const text = await response.text()
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    throw new CtlError(`${base}${path} answered ${response.status} with something that is not JSON; is it a FluxMQ node?`)
  }
  if (response.status === 401) throw new CtlError(`${base} refused the admin API: ${(body as { error?: string }).error ?? 'unauthorized'} (pass --token or set server.http.token)`)
  return { status: response.status, body }
}

function adminPath(query: CtlQuery): string {
  switch (query.what) {
    case 'session':
      return `/api/v1/sessions/${encodeURIComponent(query.id)}`
    case 'queue':
      return `/api/v1/queues/${encodeURIComponent(query.id)}`
    case 'sessions':
    case 'subscriptions': {
      const params = new URLSearchParams()
      if (query.limit !== undefined) params.set('limit', String(query.limit))
      if (query.offset !== undefined) params.set('offset', String(query.offset))
      const search = params.toString()
      return `/api/v1/${query.what}${search === '' ? '' : `?${search}`}`
    }
    case 'status':
      return '/api/v1/nodes'
    default:
      return `/api/v1/${query.what}`
  }
}

/**
 * `fluxmq ctl`: one read of a running node's HTTP API, printed as text (or the API's JSON with
 * --json). Returns the exit code: 0, or 1 when `status` finds the node not ready.
 */
export async function ctl(command: CtlCommand, defaults: CtlDefaults, io: { readonly stdout: Writable }): Promise<number> {
  const base = baseUrl(command, defaults)
  const token = command.token ?? defaults.token
  const query = command.query
  if (query.what === 'status') {
    const ready = await get(base, '/ready', '')
    const nodes = await get(base, adminPath(query), token)
    const status = { ready: ready.status === 200, readiness: ready.body, nodes: nodes.body }
    io.stdout.write(command.json ? `${JSON.stringify(status, null, 2)}\n` : formatAnswer(query, status))
    return status.ready ? 0 : 1
  }
  const answer = await get(base, adminPath(query), token)
  if (answer.status === 404 && (query.what === 'session' || query.what === 'queue')) throw new CtlError(`no ${query.what} "${query.id}" on ${base}`)
  if (answer.status !== 200) throw new CtlError(`${base}${adminPath(query)} answered ${answer.status}: ${(answer.body as { error?: string }).error ?? JSON.stringify(answer.body)}`)
  io.stdout.write(command.json ? `${JSON.stringify(answer.body, null, 2)}\n` : formatAnswer(query, answer.body))
  return 0
}
