import type { CtlQuery } from './args.js'

// The admin API's JSON (apps/broker/src/admin/admin-api.ts) as ctl reads it. Fields are read
// defensively: a newer node may add fields, and a missing one prints as "-".
type Json = Record<string, unknown>

/** Columns padded to their widest cell; the last column is not padded. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)))
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join('  ')
      .trimEnd()
  return `${[line(header), ...rows.map(line)].join('\n')}\n`
}

function text(value: unknown): string {
  if (value === null || value === undefined) return '-'
  if (typeof value === 'boolean') return value ? 'yes' : 'no'
  if (typeof value === 'string' || typeof value === 'number') return String(value)
  return JSON.stringify(value)
}

export function duration(seconds: number): string {
  const parts: string[] = []
  const units: [string, number][] = [['d', 86_400], ['h', 3600], ['m', 60]]
  let rest = Math.max(0, Math.floor(seconds))
  for (const [unit, size] of units) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`)
      rest %= size
    }
  }
  if (rest > 0 || parts.length === 0) parts.push(`${rest}s`)
  return parts.join('')
}

function listeners(node: Json): string {
  const bound = (node['listeners'] ?? {}) as Record<string, string>
  return Object.entries(bound).map(([name, address]) => `${name}=${address}`).join(' ')
}

/** `noun` is singular; a count other than one takes its plural. */
function pageLine(answer: Json, noun: string): string {
  const total = Number(answer['total'] ?? 0)
  const items = (answer['items'] ?? []) as unknown[]
  const offset = Number(answer['offset'] ?? 0)
  const counted = `${total} ${noun}${total === 1 ? '' : 's'}`
  if (items.length === total) return `${counted}\n`
  return `${counted}, showing ${items.length === 0 ? 'none' : `${offset + 1}-${offset + items.length}`} (--offset, --limit)\n`
}

/** `ctl queue NAME`: the queue's figures, then one row per group with its consumers. */
function queue(q: Json): string {
  const counters = (q['counters'] ?? {}) as Json
  const head = [
    `queue ${text(q['name'])} (${text(q['type'])}${q['declared'] === true ? ', configured' : ''})`,
    `depth ${text(q['depth'])}, ${text(q['bytes'])} bytes, offsets ${text(q['firstOffset'])}..${text(q['nextOffset'])}, pending ${text(q['pending'])}`,
    Object.entries(counters).map(([name, value]) => `${name} ${text(value)}`).join(', '),
  ].join('\n')
  const groups = (Array.isArray(q['groups']) ? q['groups'] : []) as Json[]
  if (groups.length === 0) return `${head}\nno groups\n`
  const rows = groups.map((g) => {
    const consumers = (Array.isArray(g['consumers']) ? g['consumers'] : []) as Json[]
    return [text(g['name']), text(g['committedOffset']), text(g['pending']), text(g['backlog']), consumers.map((c) => `${text(c['id'])} (credit ${text(c['credit'])}, unsettled ${text(c['unsettled'])})`).join(', ') || '-']
  })
  return `${head}\n${table(['GROUP', 'COMMITTED', 'PENDING', 'BACKLOG', 'CONSUMERS'], rows)}`
}

function subscriptionRow(sub: Json, clientId?: string): string[] {
  const options = [
    sub['noLocal'] === true ? 'no-local' : '',
    sub['retainAsPublished'] === true ? 'retain-as-published' : '',
    Number(sub['retainHandling'] ?? 0) > 0 ? `retain-handling=${text(sub['retainHandling'])}` : '',
    sub['subscriptionId'] === null || sub['subscriptionId'] === undefined ? '' : `id=${text(sub['subscriptionId'])}`,
  ].filter((option) => option !== '')
  return [...(clientId === undefined ? [] : [clientId]), text(sub['filter']), text(sub['qos']), options.join(' ')]
}

function status(answer: Json): string {
  const lines: string[] = []
  for (const node of (answer['nodes'] ?? []) as Json[]) {
    lines.push(`node ${text(node['id'])}: fluxmq ${text(node['version'])}, up ${duration(Number(node['uptimeSeconds'] ?? 0))}, ${answer['ready'] === true ? 'ready' : 'NOT READY'}`)
    lines.push(`  listeners: ${listeners(node) || 'none'}`)
  }
  const checks = ((answer['readiness'] as Json | undefined)?.['checks'] ?? {}) as Record<string, Json>
  for (const [name, check] of Object.entries(checks)) {
    if (check['ok'] !== true) lines.push(`  ${name}: ${text(check['reason'])}`)
  }
  return `${lines.join('\n')}\n`
}

function session(answer: Json): string {
  const fields: [string, unknown][] = [
    ['client id', answer['clientId']],
    ['username', answer['username']],
    ['protocol', answer['protocol']],
    ['connected', answer['connected']],
    ['remote address', answer['remoteAddress']],
    ['disconnected at', answer['disconnectedAt']],
    ['expiry interval', answer['expiryInterval'] === undefined ? undefined : `${text(answer['expiryInterval'])} s`],
    ['inflight', answer['inflight']],
    ['queued', answer['queued']],
    ['will pending', answer['willPending']],
  ]
  const width = Math.max(...fields.map(([name]) => name.length))
  const out = fields.map(([name, value]) => `${`${name}:`.padEnd(width + 2)}${text(value)}`).join('\n')
  const subs = (answer['subscriptions'] ?? []) as Json[]
  if (subs.length === 0) return `${out}\nno subscriptions\n`
  return `${out}\n\n${table(['FILTER', 'QOS', 'OPTIONS'], subs.map((sub) => subscriptionRow(sub)))}`
}

/** One row per AMQP link (a connection without links gets a row of its own). */
function amqpConnections(connections: Json[]): string {
  if (connections.length === 0) return 'no AMQP connections\n'
  const rows: string[][] = []
  for (const c of connections) {
    const links = (c['links'] ?? []) as Json[]
    const head = [text(c['container']), text(c['remoteAddress']), text(c['username'])]
    if (links.length === 0) rows.push([...head, '-', '-', '-'])
    for (const l of links) rows.push([...head, text(l['name']), l['direction'] === 'in' ? 'in (sends)' : 'out (receives)', text(l['address'])])
  }
  return table(['CONTAINER', 'REMOTE', 'USERNAME', 'LINK', 'DIRECTION', 'ADDRESS'], rows)
}

/** The text ctl prints for one answer of the admin API. */
export function formatAnswer(query: CtlQuery, body: unknown): string {
  const answer = (body ?? {}) as Json
  switch (query.what) {
    case 'status':
      return status(answer)
    case 'cluster': {
      const leaving = new Set(((answer['leaving'] ?? []) as unknown[]).map(text))
      const nodes = ((answer['nodes'] ?? []) as unknown[]).map((n) => (leaving.has(text(n)) ? `${text(n)} (leaving)` : text(n)))
      const dead = ((answer['dead'] ?? []) as Json[]).map((d) => `, dead ${text(d['node'])} since ${text(d['since'])}`).join('')
      let head = `cluster ${text(answer['name'])}: clustering ${answer['enabled'] === true ? 'on' : 'off'}, leader ${text(answer['leader'])}, nodes ${nodes.join(', ')}${dead}\n`
      // The node answering is cut off from etcd: what it shows of the others is its last view.
      if (answer['leaseHeld'] === false) head += 'this node holds no lease (etcd unreachable: partitioned or no quorum): it serves no session until it has one again\n'
      const peers = (answer['peers'] ?? []) as Json[]
      if (peers.length === 0) return head
      return `${head}\n${table(
        ['PEER', 'ADDRESS', 'CIRCUIT', 'PENDING', 'FORWARDED', 'BATCHES', 'REJECTED', 'RESENT'],
        peers.map((p) => [p['peer'], p['address'], p['breaker'], p['pendingMessages'], p['acceptedMessages'], p['acceptedBatches'], p['rejectedBatches'], p['resentBatches']].map(text)),
      )}`
    }
    case 'nodes':
      return table(
        ['NODE', 'STATUS', 'VERSION', 'UPTIME', 'LISTENERS'],
        (body as Json[]).map((node) => [`${text(node['id'])}${node['self'] === true ? ' (this)' : ''}`, text(node['status']), text(node['version']), duration(Number(node['uptimeSeconds'] ?? 0)), listeners(node)]),
      )
    case 'sessions': {
      const items = (answer['items'] ?? []) as Json[]
      const rows = items.map((s) => [text(s['clientId']), s['connected'] === true ? 'connected' : 'offline', text(s['protocol']), text(s['username']), text(s['subscriptions']), text(s['inflight']), text(s['queued']), text(s['connected'] === true ? s['remoteAddress'] : s['disconnectedAt'])])
      return pageLine(answer, 'session') + (rows.length === 0 ? '' : table(['CLIENT ID', 'STATE', 'PROTOCOL', 'USERNAME', 'SUBS', 'INFLIGHT', 'QUEUED', 'ADDRESS / OFFLINE SINCE'], rows))
    }
    case 'session':
      return session(answer)
    case 'subscriptions': {
      const items = (answer['items'] ?? []) as Json[]
      const rows = items.map((sub) => subscriptionRow(sub, text(sub['clientId'])))
      return pageLine(answer, 'subscription') + (rows.length === 0 ? '' : table(['CLIENT ID', 'FILTER', 'QOS', 'OPTIONS'], rows))
    }
    case 'queues': {
      const queues = body as Json[]
      if (queues.length === 0) return 'no queues\n'
      return table(
        ['QUEUE', 'TYPE', 'DEPTH', 'PENDING', 'GROUPS', 'CONSUMERS'],
        queues.map((q) => [text(q['name']), text(q['type']), text(q['depth']), text(q['pending']), text(q['groups']), text(q['consumers'])]),
      )
    }
    case 'queue':
      return queue(answer)
    case 'amqp':
      return amqpConnections(body as Json[])
  }
}
