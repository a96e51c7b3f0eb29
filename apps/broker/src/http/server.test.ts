import type { Server } from 'node:http'
import type { BrokerStats, Logger } from '@fluxmq/core'
import { afterEach, describe, expect, it } from 'vitest'
import { createMetrics } from './metrics.js'
import { closeHttp, createHttpServer, listenHttp } from './server.js'
import type { AdminApi, Readiness } from './server.js'

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent }

function stats(overrides: Partial<BrokerStats> = {}): BrokerStats {
  return {
    connectionsCurrent: 0,
    connectionsTotal: 0,
    sessionsCurrent: 0,
    subscriptionsCurrent: 0,
    retainedCurrent: 0,
    messagesReceived: 0,
    messagesSent: 0,
    messagesDropped: 0,
    bytesReceived: 0,
    bytesSent: 0,
    inflightCurrent: 0,
    offlineQueuedCurrent: 0,
    queuedBytes: 0,
    backpressureEvents: 0,
    droppedByReason: { queue_full: 0, expired: 0, too_large: 0, unsubscribed: 0, disconnected: 0 },
    ...overrides,
  }
}

const admin: AdminApi = {
  cluster: () => ({ enabled: false }),
  nodes: () => [{ id: 'n1' }],
  sessions: (query) => ({ limit: query.get('limit') }),
  session: (id) => (id === 'c/1' ? { clientId: id } : undefined),
  subscriptions: () => [],
  queues: () => [],
  queue: () => undefined,
  amqp: () => [{ container: 'app', links: [] }],
}

let server: Server | undefined
afterEach(async () => {
  if (server !== undefined) await closeHttp(server)
  server = undefined
})

async function start(options: { token?: string; ready?: Readiness; stats?: () => BrokerStats } = {}): Promise<string> {
  server = createHttpServer({
    token: options.token ?? '',
    metrics: createMetrics(options.stats ?? (() => stats()), { node: 'n1', version: '0.1.0' }),
    readiness: () => options.ready ?? { ready: true, checks: { 'mqtt-tcp': { ok: true } } },
    admin,
    logger: silent,
  })
  const address = await listenHttp(server, { host: '127.0.0.1', port: 0 })
  return `http://127.0.0.1:${address.port}`
}

describe('HTTP endpoints', () => {
  it('GET /health answers 200', async () => {
    const base = await start()
    const response = await fetch(`${base}/health`)
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ status: 'ok' })
  })

  it('GET /ready answers 200 when ready and 503 with the reasons when not', async () => {
    let base = await start()
    expect((await fetch(`${base}/ready`)).status).toBe(200)
    await closeHttp(server!)
    base = await start({ ready: { ready: false, checks: { 'mqtt-tcp': { ok: false, reason: 'not listening' }, storage: { ok: true } } } })
    const response = await fetch(`${base}/ready`)
    expect(response.status).toBe(503)
    expect(await response.json()).toEqual({ status: 'not ready', checks: { 'mqtt-tcp': { ok: false, reason: 'not listening' }, storage: { ok: true } } })
  })

  it('GET /metrics serves broker counters read at scrape time, plus process metrics', async () => {
    let current = stats({ connectionsCurrent: 3, messagesReceived: 10, bytesSent: 99 })
    const base = await start({ stats: () => current })
    let text = await (await fetch(`${base}/metrics`)).text()
    expect(text).toContain('fluxmq_connections 3')
    expect(text).toContain('fluxmq_messages_received_total 10')
    expect(text).toContain('fluxmq_bytes_sent_total 99')
    expect(text).toContain('fluxmq_build_info{node="n1",version="0.1.0"} 1')
    expect(text).toContain('process_cpu_user_seconds_total')
    expect(text).toContain('# TYPE fluxmq_messages_received_total counter')
    current = stats({ connectionsCurrent: 1, messagesReceived: 25 })
    text = await (await fetch(`${base}/metrics`)).text()
    expect(text).toContain('fluxmq_connections 1')
    expect(text).toContain('fluxmq_messages_received_total 25')
  })

  it('GET /metrics: dropped messages by reason, every reason present from the first scrape', async () => {
    let current = stats()
    const base = await start({ stats: () => current })
    let text = await (await fetch(`${base}/metrics`)).text()
    expect(text).toContain('fluxmq_messages_dropped_total{reason="queue_full"} 0')
    expect(text).toContain('fluxmq_messages_dropped_total{reason="expired"} 0')
    current = stats({ messagesDropped: 7, droppedByReason: { queue_full: 5, expired: 0, too_large: 2, unsubscribed: 0, disconnected: 0 } })
    text = await (await fetch(`${base}/metrics`)).text()
    expect(text).toContain('fluxmq_messages_dropped_total{reason="queue_full"} 5')
    expect(text).toContain('fluxmq_messages_dropped_total{reason="too_large"} 2')
  })

  it('routes the admin API, decoding ids, 404 for unknown ones', async () => {
    const base = await start()
    expect(await (await fetch(`${base}/api/v1/nodes`)).json()).toEqual([{ id: 'n1' }])
    expect(await (await fetch(`${base}/api/v1/sessions?limit=5`)).json()).toEqual({ limit: '5' })
    expect(await (await fetch(`${base}/api/v1/sessions/c%2F1`)).json()).toEqual({ clientId: 'c/1' })
    expect((await fetch(`${base}/api/v1/sessions/nobody`)).status).toBe(404)
    expect((await fetch(`${base}/api/v1/queues/q`)).status).toBe(404)
    expect((await fetch(`${base}/api/v1/bogus`)).status).toBe(404)
    expect((await fetch(`${base}/nope`)).status).toBe(404)
  })

  it('refuses other methods with 405', async () => {
    const base = await start()
    const response = await fetch(`${base}/health`, { method: 'POST' })
    expect(response.status).toBe(405)
    expect(response.headers.get('allow')).toBe('GET, HEAD')
  })

  it('protects only the admin API with the bearer token', async () => {
    const base = await start({ token: 's3cret' })
    const refusal = async (authorization?: string) => {
      const response = await fetch(`${base}/api/v1/nodes`, authorization === undefined ? {} : { headers: { authorization } })
      return [response.status, ((await response.json()) as { error: string }).error]
    }
    expect(await refusal()).toEqual([401, 'a bearer token is required'])
    expect(await refusal('Basic s3cret')).toEqual([401, 'a bearer token is required'])
    expect(await refusal('Bearer wrong')).toEqual([401, 'the bearer token is wrong'])
    expect((await fetch(`${base}/api/v1/nodes`, { headers: { authorization: 'Bearer s3cret' } })).status).toBe(200)
    expect((await fetch(`${base}/health`)).status).toBe(200)
    expect((await fetch(`${base}/metrics`)).status).toBe(200)
  })

  it('takes the Bearer scheme name in any case (RFC 7235 §2.1)', async () => {
    const base = await start({ token: 's3cret' })
    for (const scheme of ['bearer', 'BEARER', 'BeArEr']) {
      expect((await fetch(`${base}/api/v1/nodes`, { headers: { authorization: `${scheme} s3cret` } })).status).toBe(200)
    }
  })
})
