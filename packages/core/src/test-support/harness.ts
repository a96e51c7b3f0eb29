import type { ClientLink, ConnectRequest, SessionHandle, SubscribeResult } from '../api.js'
import { Broker } from '../broker.js'
import type { Cluster } from '../cluster.js'
import { MemoryStorage } from '../memory-storage.js'
import type { Delivery, Message, MessageProperties, QoS } from '../message.js'
import type { Clock, Logger } from '../ports.js'
import type { Refusal } from '../refusal.js'
import type { BrokerOptions } from '../api.js'
import type { SessionProtocol, StoredState, SubscriptionOptions, WillRecord } from '../storage.js'

/** Time that moves only when a test says so. */
export class FakeClock implements Clock {
  constructor(public t = 1_700_000_000_000) {}
  now(): number {
    return this.t
  }
}

export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silentLogger,
}

/** A delivery as the client saw it at the moment it was sent (the core reuses the object). */
export interface Received {
  readonly topic: string
  readonly payload: string
  readonly qos: QoS
  readonly retain: boolean
  readonly deliveryId: number
  readonly dup: boolean
  readonly subscriptionIds?: readonly number[]
  readonly message: Message
}

/** A ClientLink that records what the core sent. */
export class RecordingLink implements ClientLink {
  readonly received: Received[] = []
  /** Ids of received two-phase deliveries resent at their second phase (MQTT PUBREL). */
  readonly secondPhase: number[] = []
  closed: Refusal | undefined
  /** Deliveries with a larger payload are refused, as for a client's Maximum Packet Size. */
  maxPayload = Infinity
  onClose: (() => void) | undefined
  /** The link's credit: deliveries it takes before hasCredit() answers false (Infinity = always room). */
  credit = Infinity

  hasCredit(): boolean {
    return this.credit > 0
  }

  deliver(d: Delivery): boolean {
    if (d.received) {
      this.secondPhase.push(d.deliveryId)
      return true
    }
    this.credit--
    if (d.message.payload.length > this.maxPayload) return false
    this.received.push({
      topic: d.message.topic,
      payload: d.message.payload.toString(),
      qos: d.qos,
      retain: d.retain,
      deliveryId: d.deliveryId,
      dup: d.dup,
      subscriptionIds: d.subscriptionIds === undefined ? undefined : [...d.subscriptionIds],
      message: d.message,
    })
    return true
  }

  close(reason: Refusal): void {
    this.closed = reason
    this.onClose?.()
  }

  /** Takes what arrived since the last call. */
  take(): Received[] {
    return this.received.splice(0)
  }
}

/**
 * MemoryStorage that hands back copies, as a backend that serializes (SQLite) does: nothing the
 * core attached to a Message object by identity survives a trip through it.
 */
export class CopyingStorage extends MemoryStorage {
  override async takeOffline(clientId: string, limit: number): Promise<Message[]> {
    return (await super.takeOffline(clientId, limit)).map(copyMessage)
  }

  override async open(): Promise<StoredState> {
    const state = await super.open()
    return {
      retained: state.retained.map(copyMessage),
      sessions: state.sessions.map((s) => ({ ...s, inflight: s.inflight.map((r) => ({ ...r, message: copyMessage(r.message) })) })),
    }
  }
}

function copyMessage(m: Message): Message {
  return { ...m, payload: Buffer.from(m.payload), properties: { ...m.properties } }
}

export const defaults = {
  nodeId: 'n1',
  version: '0.1.0-test',
  maxQos: 2 as QoS,
  retryIntervalMs: 20_000,
  maxOfflineMessages: 1000,
  offlineOverflow: 'drop_oldest' as const,
  defaultExpiry: 7200,
  maxExpiry: 0,
  maxRetainedMessages: 0,
  maxSubscriptionsPerClient: 0,
  sysIntervalMs: 0,
}

export interface World {
  readonly broker: Broker
  readonly clock: FakeClock
  readonly storage: MemoryStorage
}

export async function createWorld(
  overrides: Partial<Omit<BrokerOptions, 'clock' | 'logger' | 'storage'>> = {},
  shared?: { clock?: FakeClock; storage?: MemoryStorage; cluster?: Cluster },
): Promise<World> {
  const clock = shared?.clock ?? new FakeClock()
  const storage = shared?.storage ?? new MemoryStorage()
  const broker = new Broker({
    ...defaults,
    ...overrides,
    clock,
    logger: silentLogger,
    storage,
    cluster: shared?.cluster ?? overrides.cluster,
  })
  await broker.start()
  return { broker, clock, storage }
}

export interface ClientOptions {
  readonly protocol?: SessionProtocol
  readonly cleanStart?: boolean
  readonly expiry?: number
  readonly receiveMaximum?: number
  readonly will?: WillRecord
  readonly username?: string
  /** Leave the session unactivated (CONNACK not yet written). */
  readonly inactive?: boolean
}

/** One connected test client: its handle, its link, and helpers that drive the broker for it. */
export class TestClient {
  constructor(
    readonly world: World,
    readonly id: string,
    readonly handle: SessionHandle,
    readonly link: RecordingLink,
    readonly sessionPresent: boolean,
  ) {}

  publish(topic: string, payload: string, qos: QoS = 0, extra: Partial<Message> = {}) {
    return this.world.broker.publish(this.handle, message(this.world.clock, topic, payload, qos, { publisherId: this.id, ...extra }))
  }

  subscribe(filter: string, qos: QoS = 2, extra: Partial<SubscriptionOptions> = {}): SubscribeResult {
    const req: SubscriptionOptions = {
      filter,
      qos,
      noLocal: false,
      retainAsPublished: false,
      retainHandling: 0,
      ...extra,
    }
    const res = this.world.broker.subscribe(this.handle, [req])
    this.world.broker.deliverRetained(this.handle, [req], res)
    return res
  }

  /** Settles every QoS 1/2 delivery received so far as accepted (QoS 2: received first). */
  ackAll(): void {
    for (const r of this.link.take()) this.ack(r)
  }

  ack(r: Received): void {
    const b = this.world.broker
    if (r.qos === 2) b.received(this.handle, r.deliveryId)
    if (r.qos > 0) b.settle(this.handle, r.deliveryId, 'accepted')
  }

  disconnect(publishWill = false, sessionExpiryInterval?: number): void {
    this.world.broker.disconnect(this.handle, { publishWill, sessionExpiryInterval })
  }
}

export async function connect(world: World, id: string, opts: ClientOptions = {}): Promise<TestClient> {
  const link = new RecordingLink()
  const request: ConnectRequest = {
    clientId: id,
    protocol: opts.protocol ?? 'mqtt5',
    cleanStart: opts.cleanStart ?? true,
    sessionExpiryInterval: opts.expiry ?? 0,
    receiveMaximum: opts.receiveMaximum ?? 65535,
    will: opts.will,
    username: opts.username,
  }
  const res = await world.broker.connect(request, link)
  if (!res.ok) throw new Error(`connect ${id} failed: ${res.reason}`)
  if (opts.inactive !== true) world.broker.activate(res.session)
  return new TestClient(world, id, res.session, link, res.sessionPresent)
}

export function message(
  clock: Clock,
  topic: string,
  payload: string,
  qos: QoS = 0,
  extra: Partial<Message> & { properties?: MessageProperties } = {},
): Message {
  return {
    topic,
    payload: Buffer.from(payload),
    qos,
    retain: false,
    properties: {},
    publishedAt: clock.now(),
    ...extra,
  }
}

/** Randomized tests draw from one seed, so a failing run replays from the seed it prints. */
export { seededRandom as rng } from '@fluxmq/testing'
