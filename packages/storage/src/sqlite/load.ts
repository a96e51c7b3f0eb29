import type {
  InflightRecord,
  Message,
  QoS,
  SessionProtocol,
  SessionRecord,
  StoredSession,
  StoredState,
  SubscriptionOptions,
  UserProperty,
} from '@fluxmq/core'
import type Database from 'better-sqlite3'
import type { MessageRow, MessageStore } from './messages.js'
import { LOAD_SQL } from './statements.js'
import { decodeStandalone } from './stored-message.js'

/** Where a client's offline queue starts and ends: entries are [head, tail). */
export interface QueueCursor {
  head: number
  tail: number
}

interface SessionRow extends Partial<MessageRow> {
  readonly client_id: string
  readonly protocol: string
  readonly expiry_interval: number
  readonly disconnected_at: number | null
  readonly will_delay: number | null
  readonly epoch: number | null
}

interface SubscriptionRow {
  readonly client_id: string
  readonly filter: string
  readonly qos: number
  readonly no_local: number
  readonly retain_as_published: number
  readonly retain_handling: number
  readonly subscription_id: number | null
  readonly user_properties: string | null
}

/** m_* are null for a message stored inline (schema v5). */
interface InflightRow extends MessageRow {
  readonly inline_message: Buffer | null
  readonly client_id: string
  readonly delivery_id: number
  readonly delivery_qos: number
  readonly delivery_retain: number
  readonly state: string
  readonly subscription_ids: string | null
}

interface Loading {
  session: SessionRecord
  subscriptions: SubscriptionOptions[]
  inflight: InflightRecord[]
  incomingQos2: number[]
  releasedQos2: number[]
}

/** Reads everything the broker keeps in memory, and the ends of every offline queue. */
export function loadState(
  db: Database.Database,
  messages: MessageStore,
): { state: StoredState; queues: Map<string, QueueCursor> } {
  const sessions = new Map<string, Loading>()
  // A message held in many places (fanned out inflight, also retained) loads as one object, as
  // the core shares it when it routes: one payload in memory, not one per holder.
  const loaded = new Map<number, Message>()
  const messageOf = (row: MessageRow): Message => {
    let message = loaded.get(row.m_id)
    if (message === undefined) {
      message = messages.fromRow(row)
      loaded.set(row.m_id, message)
    }
    return message
  }
  for (const row of db.prepare(LOAD_SQL.sessions).iterate() as IterableIterator<SessionRow>) {
    const session: SessionRecord = {
      clientId: row.client_id,
      protocol: row.protocol as SessionProtocol,
      expiryInterval: row.expiry_interval,
      ...(row.disconnected_at === null ? {} : { disconnectedAt: row.disconnected_at }),
      ...(row.epoch === null ? {} : { epoch: row.epoch }),
      ...(row.m_id === null || row.m_id === undefined
        ? {}
        : { will: { message: messageOf(row as MessageRow), delayInterval: row.will_delay ?? 0 } }),
    }
    sessions.set(row.client_id, { session, subscriptions: [], inflight: [], incomingQos2: [], releasedQos2: [] })
  }
  // Rows of a client without a session cannot be reached through the broker; they are skipped.
  for (const row of db.prepare(LOAD_SQL.subscriptions).iterate() as IterableIterator<SubscriptionRow>) {
    sessions.get(row.client_id)?.subscriptions.push(subscriptionFromRow(row))
  }
  for (const row of db.prepare(LOAD_SQL.inflight).iterate() as IterableIterator<InflightRow>) {
    const loading = sessions.get(row.client_id)
    if (loading === undefined) continue
    loading.inflight.push({
      deliveryId: row.delivery_id,
      message: row.inline_message === null ? messageOf(row) : decodeStandalone(row.inline_message),
      qos: row.delivery_qos as 1 | 2,
      retain: row.delivery_retain === 1,
      state: row.state as InflightRecord['state'],
      ...(row.subscription_ids === null
        ? {}
        : { subscriptionIds: JSON.parse(row.subscription_ids) as readonly number[] }),
    })
  }
  const incoming = db.prepare(LOAD_SQL.incomingQos2).iterate() as IterableIterator<{ client_id: string; packet_id: number; released: number }>
  for (const row of incoming) {
    const loading = sessions.get(row.client_id)
    if (loading !== undefined) (row.released === 1 ? loading.releasedQos2 : loading.incomingQos2).push(row.packet_id)
  }

  const queues = loadQueueCursors(db)
  const stored: StoredSession[] = []
  for (const [clientId, loading] of sessions) {
    const queue = queues.get(clientId)
    stored.push({ ...loading, offlineCount: queue === undefined ? 0 : queue.tail - queue.head })
  }
  const retained = (db.prepare(LOAD_SQL.retained).all() as MessageRow[]).map(messageOf)
  return { state: { sessions: stored, retained }, queues }
}

function loadQueueCursors(db: Database.Database): Map<string, QueueCursor> {
  const one = (sql: string) => db.prepare(sql).pluck()
  const [next, nextSegment] = [one(LOAD_SQL.nextQueue), one(LOAD_SQL.nextSegmentQueue)]
  const [head, segmentHead, storedHead] = [one(LOAD_SQL.queueHead), one(LOAD_SQL.segmentHead), one(LOAD_SQL.storedHead)]
  const [last, segmentLast] = [one(LOAD_SQL.queueLast), one(LOAD_SQL.segmentLast)]
  const queues = new Map<string, QueueCursor>()
  let large = one(LOAD_SQL.firstQueue).get() as string | null
  let small = one(LOAD_SQL.firstSegmentQueue).get() as string | null
  while (large !== null || small !== null) {
    const clientId = (small === null || (large !== null && large < small) ? large : small) as string
    // Seqs are contiguous from the head to the tail across both tables. The stored head is the
    // one that can fall inside a segment; without one (never taken from, or a v3 queue) the
    // queue starts at its lowest stored seq.
    const first = (storedHead.get(clientId) as number | undefined) ?? outer(Math.min, head.get(clientId), segmentHead.get(clientId))
    queues.set(clientId, { head: first, tail: outer(Math.max, last.get(clientId), segmentLast.get(clientId)) + 1 })
    if (large === clientId) large = next.get(clientId) as string | null
    if (small === clientId) small = nextSegment.get(clientId) as string | null
  }
  return queues
}

/** The lower or higher of a queue's ends in its two tables, one of which may have none. */
function outer(pick: (a: number, b: number) => number, a: unknown, b: unknown): number {
  if (typeof a !== 'number') return b as number
  return typeof b === 'number' ? pick(a, b) : a
}

function subscriptionFromRow(row: SubscriptionRow): SubscriptionOptions {
  return {
    filter: row.filter,
    qos: row.qos as QoS,
    noLocal: row.no_local === 1,
    retainAsPublished: row.retain_as_published === 1,
    retainHandling: row.retain_handling as 0 | 1 | 2,
    ...(row.subscription_id === null ? {} : { subscriptionId: row.subscription_id }),
    ...(row.user_properties === null
      ? {}
      : { userProperties: JSON.parse(row.user_properties) as readonly UserProperty[] }),
  }
}
