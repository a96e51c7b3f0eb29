import { createHash, timingSafeEqual } from 'node:crypto'
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from '@fluxmq/core'
import type { Registry } from 'prom-client'
import type { Address } from '../config/units.js'

/** What /ready reports: ready only when every check passes; each failing check says why. */
export interface Readiness {
  readonly ready: boolean
  readonly checks: Readonly<Record<string, { readonly ok: boolean; readonly reason?: string }>>
}

/** A JSON answer of the admin API; `undefined` from a lookup becomes 404. */
export type AdminAnswer = unknown

/** An admin query the API cannot answer as asked (bad paging parameters): 400. */
export class BadAdminQuery extends Error {
  override readonly name = 'BadAdminQuery'
}

/** The read-only admin API (`/api/v1/...`): what this node can answer about itself. */
export interface AdminApi {
  cluster(): AdminAnswer
  nodes(): AdminAnswer
  sessions(query: URLSearchParams): AdminAnswer
  session(clientId: string): AdminAnswer | undefined
  subscriptions(query: URLSearchParams): AdminAnswer
  queues(): AdminAnswer
  queue(name: string): AdminAnswer | undefined
  /** AMQP connections and their links. */
  amqp(): AdminAnswer
}

export interface HttpOptions {
  /** server.http.token: when non-empty, /api/v1 needs `Authorization: Bearer <token>`. */
  readonly token: string
  readonly metrics: Registry
  readiness(): Readiness
  readonly admin: AdminApi
  readonly logger: Logger
}

function send(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = `${JSON.stringify(body)}\n`
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers })
  response.end(text)
}

/** The scheme name is case-insensitive (RFC 7235 §2.1): `bearer x` is `Bearer x`. */
const BEARER = /^bearer +(\S+)\s*$/i

/**
 * Why a request may not use the admin API, or undefined when its token is right. Compares digests
 * so that neither the token's content nor its length leaks through timing.
 */
function tokenRefusal(header: string | undefined, token: string): string | undefined {
  const presented = header === undefined ? undefined : BEARER.exec(header)?.[1]
  if (presented === undefined) return 'a bearer token is required'
  const digest = (text: string): Buffer => createHash('sha256').update(text).digest()
  return timingSafeEqual(digest(presented), digest(token)) ? undefined : 'the bearer token is wrong'
}

/**
 * HTTP for operators on node:http: `/health`, `/ready`, `/metrics` open (probes and scrapers),
 * `/api/v1/...` behind the bearer token when one is configured. GET and HEAD only.
 */
export function createHttpServer(options: HttpOptions): Server {
  const route = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const url = new URL(request.url ?? '/', 'http://localhost')
    const path = url.pathname
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      send(response, 405, { error: 'method not allowed' }, { allow: 'GET, HEAD' })
      return
    }
    if (path === '/health') return send(response, 200, { status: 'ok' })
    if (path === '/ready') {
      const readiness = options.readiness()
      return send(response, readiness.ready ? 200 : 503, { status: readiness.ready ? 'ready' : 'not ready', checks: readiness.checks })
    }
    if (path === '/metrics') {
      const text = await options.metrics.metrics()
      response.writeHead(200, { 'content-type': options.metrics.contentType })
      response.end(text)
      return
    }
    if (path === '/api/v1' || path.startsWith('/api/v1/')) {
      const refusal = options.token === '' ? undefined : tokenRefusal(request.headers.authorization, options.token)
      if (refusal !== undefined) return send(response, 401, { error: refusal }, { 'www-authenticate': 'Bearer realm="fluxmq"' })
      return answerAdmin(options.admin, path.slice('/api/v1'.length), url.searchParams, response)
    }
    send(response, 404, { error: 'not found' })
  }

  return createServer((request, response) => {
    route(request, response).catch((error: unknown) => {
      options.logger.error({ err: error, path: request.url }, 'http request failed')
      if (!response.headersSent) send(response, 500, { error: 'internal error' })
      else response.destroy()
    })
  })
}

function answerAdmin(admin: AdminApi, path: string, query: URLSearchParams, response: ServerResponse): void {
  const [, collection = '', ...rest] = path.split('/')
  if (rest.length > 1) return send(response, 404, { error: 'not found' })
  let id: string | undefined
  try {
    id = rest[0] === undefined ? undefined : decodeURIComponent(rest[0])
  } catch {
    return send(response, 400, { error: 'malformed path' })
  }
  let found: AdminAnswer | undefined
  try {
    found = lookup(admin, collection, id, query)
  } catch (error) {
    if (error instanceof BadAdminQuery) return send(response, 400, { error: error.message })
    throw error
  }
  if (found === undefined) send(response, 404, { error: 'not found' })
  else send(response, 200, found)
}

function lookup(admin: AdminApi, collection: string, id: string | undefined, query: URLSearchParams): AdminAnswer | undefined {
  switch (collection) {
    case 'cluster':
      return id === undefined ? admin.cluster() : undefined
    case 'nodes':
      return id === undefined ? admin.nodes() : undefined
    case 'sessions':
      return id === undefined ? admin.sessions(query) : admin.session(id)
    case 'subscriptions':
      return id === undefined ? admin.subscriptions(query) : undefined
    case 'queues':
      return id === undefined ? admin.queues() : admin.queue(id)
    case 'amqp':
      return id === undefined ? admin.amqp() : undefined
    default:
      return undefined
  }
}

export function listenHttp(server: Server, address: Address): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen({ port: address.port, ...(address.host === '' ? {} : { host: address.host }) }, () => {
      server.off('error', reject)
      resolve(server.address() as AddressInfo)
    })
  })
}

export function closeHttp(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve())
    server.closeAllConnections()
  })
}
