import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, describe, expect, it } from 'vitest'
import { Store, type IClientOptions, type IPublishPacket } from 'mqtt'
import { dropConnection, openClient, seededRandom, setArgs, withTimeout, type OpenedClient } from '@fluxmq/testing'
import { eventually } from './support/cluster.js'
import { Scene } from './support/fluxmq.js'
import { netnsAvailable, startNetnsCluster, type NetnsNode } from './support/netns.js'

// The seeded chaos test (issue 10): 3 real fluxmq processes on SQLite, each with its embedded etcd
// member and its own network namespace (support/netns.ts, root only), while QoS 1 and QoS 2
// publishers (MQTT 5 and 3.1.1) stream to persistent subscribers that stay subscribed, and clients
// with wills come and go. One node at a time (so the etcd majority stays) is, at random:
// SIGKILLed with its etcd member and started again on its data, SIGSTOPped then SIGCONTed, cut off
// from the other nodes and etcd then healed, or stopped with SIGTERM (a graceful leave) and
// started again. Every fault is printed with its time and seed step.
//
// With TEST_CHAOS=1 it replays REGRESSION_SEED; TEST_CHAOS_SEED=<n> replays another
// schedule (the `chaos seed=<n>` line this test prints first), TEST_CHAOS_SEED=random draws a fresh
// one. Timings on a loaded machine still differ from run to run. TEST_CHAOS_SECONDS sets how long
// faults are injected (default 90: about 2.5 minutes in all). TEST_CHAOS_LOGS=<dir> writes every
// broker's log lines there. A soak with fresh seeds:
//   cd test && TEST_CHAOS_SEED=random TEST_CHAOS_SECONDS=150 nice -n 10 pnpm exec vitest run src/cluster-chaos.test.ts

/**
 * A seed whose schedule found seven bugs (all fixed, each with its own test): the suite replays
 * it, so a red run means a regression. Fresh seeds may still find failures
 * (packages/cluster/README.md, "Not done yet").
 */
const REGRESSION_SEED = 1216800593
const SEED =
  process.env.TEST_CHAOS_SEED === 'random'
    ? Math.floor(Math.random() * 0x7fffffff)
    : process.env.TEST_CHAOS_SEED
      ? Number.parseInt(process.env.TEST_CHAOS_SEED, 10)
      : REGRESSION_SEED
const CHAOS_MS = Number(process.env.TEST_CHAOS_SECONDS ?? 90) * 1_000
/** Every client gives up on a silent node after about 1.5 keepalives (a stopped node sends nothing). */
const KEEPALIVE_S = 4
const PUBLISH_GAP_MS = 40
/** Bound on the wait for a PUBACK/PUBCOMP before the publisher gives up on its node and moves. */
const PUBLISH_TIMEOUT_MS = 8_000
/** After healing: how long every acknowledged message may take to reach every subscriber. */
const SETTLE_MS = 90_000
const REJOIN_MS = 90_000

type FaultKind = 'kill' | 'stop' | 'partition' | 'term'
const FAULTS: readonly FaultKind[] = ['kill', 'stop', 'partition', 'term']

/**
 * One client's store of incoming QoS 2 publishes across its connections, as a real client keeps
 * it: a PUBREL that comes on the next connection (to another node) releases the publish. mqtt.js
 * closes its stores when a connection is ended; this one outlives that.
 */
class LastingStore extends Store {
  override close(callback?: () => void): void {
    callback?.()
  }
}

let startedAt = Date.now()
const faultLog: string[] = []
/** Wall-clock time of day, as the brokers' logs show it. */
function clock(): string {
  return new Date().toISOString().slice(11, 23)
}
function log(step: number, text: string): void {
  const line = `[chaos t=${((Date.now() - startedAt) / 1_000).toFixed(1)}s ${clock()} step=${step}] ${text}`
  faultLog.push(line)
  console.log(line)
}

/**
 * One MQTT client that, whenever its connection ends, connects again to the next node in turn
 * (round-robin over the nodes' ports) until one serves it: what a client of a cluster does.
 */
class Roamer {
  readonly incarnations: OpenedClient[] = []
  /** Connections that resumed without their session (a persistent session lost). */
  readonly sessionsLost: string[] = []
  /** When each connection was accepted (CONNACK), with the node index. */
  readonly served: { at: number; node: number }[] = []
  current: OpenedClient | undefined
  node = -1
  get nodeId(): string {
    return this.nodes[this.node]?.nodeId ?? '?'
  }
  /** First arrival per topic (or the CONNACK time for what came with the CONNACK, before a listener could see it). */
  private readonly firstArrival = new Map<string, number>()
  /** Per published payload, each copy that arrived: connection, node, time, packet id and DUP (printed for a payload delivered twice). */
  private readonly copyNotes = new Map<string, string[]>()
  connecting!: Promise<OpenedClient>
  /** A client no node served until the deadline. */
  readonly failures: string[] = []
  private stopped = false

  constructor(
    readonly id: string,
    private readonly nodes: readonly NetnsNode[],
    private readonly options: IClientOptions,
    private next: number,
    private readonly onConnect: (opened: OpenedClient, first: boolean) => Promise<void> = async () => undefined,
  ) {
    this.reconnect()
  }

  private async connect(): Promise<OpenedClient> {
    const deadline = Date.now() + REJOIN_MS + SETTLE_MS
    for (;;) {
      if (this.stopped) throw new Error(`${this.id} stopped`)
      const index = this.next++ % this.nodes.length
      const node = this.nodes[index] as NetnsNode
      let opened: OpenedClient
      try {
        opened = await openClient(node.mqttUrl, { keepalive: KEEPALIVE_S, connectTimeout: 3_000, ...this.options })
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`${this.id} served by no node for ${REJOIN_MS + SETTLE_MS} ms`, { cause: error })
        await sleep(100)
        continue
      }
      const first = this.incarnations.length === 0
      const fresh = first || !opened.connack.sessionPresent
      if (!first && this.options.clean === false && !opened.connack.sessionPresent) this.sessionsLost.push(`${this.id} on ${node.nodeId} at t=${Date.now() - startedAt} ms`)
      this.incarnations.push(opened)
      const servedAt = Date.now()
      this.served.push({ at: servedAt, node: index })
      const connection = `#${this.incarnations.length - 1} on ${node.nodeId}`
      for (const m of opened.inbox.messages) {
        if (!this.firstArrival.has(m.topic)) this.firstArrival.set(m.topic, servedAt)
        this.noteCopy(m.topic, m.payload, m.packet, `${connection} with its CONNACK`)
      }
      opened.client.on('message', (topic: string, payload: Buffer, packet: IPublishPacket) => {
        if (!this.firstArrival.has(topic)) this.firstArrival.set(topic, Date.now())
        this.noteCopy(topic, payload, packet, `${connection} at ${clock()}`)
      })
      try {
        await this.onConnect(opened, fresh)
      } catch {
        // The connection ended while subscribing: the next one subscribes again.
        opened.client.end(true)
        continue
      }
      if (!opened.client.connected) {
        opened.client.end(true)
        continue
      }
      this.current = opened
      this.node = index
      opened.client.once('close', () => {
        opened.client.end(true)
        if (this.current !== opened) return
        this.current = undefined
        this.node = -1
        if (!this.stopped) this.reconnect()
      })
      return opened
    }
  }

  private reconnect(): void {
    this.connecting = this.connect()
    this.connecting.catch((error: unknown) => {
      if (!this.stopped) this.failures.push(String(error))
    })
  }

  private noteCopy(topic: string, payload: Buffer, packet: IPublishPacket, where: string): void {
    if (!topic.startsWith('chaos/pub-')) return
    const key = payload.toString()
    const notes = this.copyNotes.get(key) ?? []
    notes.push(`${where} id=${packet.messageId ?? '-'}${packet.dup ? ' dup' : ''}`)
    this.copyNotes.set(key, notes)
  }

  /** How each copy of `payload` arrived (see copyNotes). */
  copiesOf(payload: string): readonly string[] {
    return this.copyNotes.get(payload) ?? []
  }

  arrivedAt(topic: string): number | undefined {
    return this.firstArrival.get(topic)
  }

  /** Cuts the current connection as a dead network would; the client connects again elsewhere. */
  abandon(opened: OpenedClient): void {
    if (this.current === opened) opened.client.stream.destroy()
  }

  async stop(): Promise<void> {
    this.stopped = true
    await this.connecting.catch(() => undefined)
    const last = this.current
    this.current = undefined
    if (last !== undefined) await last.client.endAsync(true)
  }
}

/** Publishes `<id>#<seq>` one at a time, remembering every PUBACK/PUBCOMP; gives up on a node that does not answer. */
class Publisher {
  readonly acked = new Set<string>()
  /** Per acknowledged payload: when it was sent and acknowledged, and by which node; printed for the missing ones. */
  readonly trail = new Map<string, string>()
  readonly qos: 1 | 2
  failed = 0
  private stopped = false
  private readonly done: Promise<void>

  constructor(
    readonly roamer: Roamer,
    qos: 1 | 2,
  ) {
    this.qos = qos
    this.done = this.run()
  }

  private async run(): Promise<void> {
    for (let seq = 0; !this.stopped; seq++) {
      const opened = await this.roamer.connecting.catch(() => undefined)
      if (opened === undefined || this.stopped) return
      const payload = `${this.roamer.id}#${seq}`
      const node = this.roamer.nodeId
      const sentAt = clock()
      try {
        await withTimeout(opened.client.publishAsync(`chaos/${this.roamer.id}`, payload, { qos: this.qos }), PUBLISH_TIMEOUT_MS, `ack of ${payload}`)
        this.acked.add(payload)
        this.trail.set(payload, `sent ${sentAt} acked ${clock()} by ${node}`)
        await sleep(PUBLISH_GAP_MS)
      } catch (error) {
        // Refused (reason code ≥ 0x80), cut off or not answered: not acknowledged, so not owed.
        this.trail.set(payload, `sent ${sentAt} through ${node}, not acknowledged (${clock()}: ${String(error).slice(0, 120)})`)
        this.failed++
        this.roamer.abandon(opened)
        await sleep(100)
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true
    await this.done
    await this.roamer.stop()
  }
}

interface Subscriber {
  readonly roamer: Roamer
  readonly qos: 1 | 2
}

function payloadsOf(roamer: Roamer, prefix: string): { payload: string; qos: number }[] {
  return roamer.incarnations.flatMap((c) => c.inbox.messages.filter((m) => m.topic.startsWith(prefix)).map((m) => ({ payload: m.payload.toString(), qos: m.packet.qos })))
}

/** `p#1 p#2 p#3 q#7` as `p#1-3 q#7`: payloads are `<publisher>#<seq>`, listed in publish order. */
function ranges(payloads: readonly string[]): string {
  const out: string[] = []
  let run: { publisher: string; from: number; to: number } | undefined
  const flush = (): void => {
    if (run !== undefined) out.push(run.from === run.to ? `${run.publisher}#${run.from}` : `${run.publisher}#${run.from}-${run.to}`)
  }
  for (const payload of payloads) {
    const [publisher = '', seq = ''] = payload.split('#')
    const n = Number(seq)
    if (run !== undefined && run.publisher === publisher && run.to + 1 === n) run.to = n
    else {
      flush()
      run = { publisher, from: n, to: n }
    }
  }
  flush()
  return out.join(' ')
}

/** What the kernel says of a process: its state and where it waits. */
function processState(pid: number | undefined): string {
  if (pid === undefined) return 'no pid'
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return `state ${stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)}, waiting in ${readFileSync(`/proc/${pid}/wchan`, 'utf8') || '-'}`
  } catch {
    return 'gone'
  }
}

/** Starts the node again; one that logs nothing within the start timeout is logged, killed and started once more. */
async function restart(step: number, node: NetnsNode): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await node.restart()
      return
    } catch (error) {
      log(step, `${node.nodeId} did not start (attempt ${attempt}, pid ${node.process.pid}: ${processState(node.process.pid)}): ${String(error)}`)
      if (attempt === 2) throw error
      node.kill()
    }
  }
}

/** Lines of the brokers' own logs (not their etcd members') that explain a loss or a duplicate. */
function telling(line: { level: number; msg: string } & Record<string, unknown>): boolean {
  if (line['etcdMember'] !== undefined) return false
  return line.level >= 40 || /will|handed on|surrender|taken over|resum|returning/.test(line.msg)
}

/** What each broker process logged that explains a failure (see `telling`), oldest first. */
function brokerTrouble(processes: readonly { nodeId: string; process: NetnsNode['process'] }[]): string[] {
  return processes.flatMap(({ nodeId, process }, i) =>
    process.lines
      .filter(telling)
      .map((line) => {
        const rest = Object.fromEntries(Object.entries(line).filter(([key]) => !['level', 'time', 'msg', 'pid', 'hostname'].includes(key)))
        return `${nodeId}#${i} ${new Date(Number(line.time)).toISOString().slice(11, 23)} ${line.msg} ${JSON.stringify(rest).slice(0, 300)}`
      }),
  )
}

async function ready(node: NetnsNode): Promise<boolean> {
  if ((await fetch(`${node.httpUrl}/ready`, { signal: AbortSignal.timeout(2_000) })).status !== 200) return false
  const view = (await (await fetch(`${node.httpUrl}/api/v1/cluster`, { signal: AbortSignal.timeout(2_000) })).json()) as { nodes: string[]; peers: { breaker: string }[] }
  return view.nodes.length === 3 && view.peers.length === 2 && view.peers.every((p) => p.breaker === 'closed')
}

// Behind TEST_CHAOS=1: a soak of about 2.5 minutes whose faults land at moments no seed fixes on
// a shared, loaded box, run and reported per session (packages/cluster/README.md, "Not done yet").
describe.skipIf(!netnsAvailable() || process.env.TEST_CHAOS !== '1')('chaos: random kills, restarts, stops, partitions and leaves of one of 3 nodes (SQLite, network namespaces)', () => {
  const scene = new Scene()
  afterAll(() => scene.cleanup.run(), 120_000)

  it('loses no acknowledged message at a persistent subscriber, delivers no QoS 2 message twice, fires every will at most once', async () => {
    console.log(`chaos seed=${SEED}`)
    startedAt = Date.now()
    const random = seededRandom(SEED)
    const nodes = await startNetnsCluster(
      scene,
      3,
      setArgs({ 'storage.type': 'sqlite', 'session.max_offline_messages': 1_000_000, 'server.shutdown_timeout': '10s' }),
    )
    // Every broker process of the run, to print their warnings and errors when the checks fail.
    const processes = nodes.map((n) => ({ nodeId: n.nodeId, process: n.process }))
    const persistent = (clientId: string, protocolVersion: 4 | 5): IClientOptions =>
      protocolVersion === 5
        ? { protocolVersion, clientId, clean: false, properties: { sessionExpiryInterval: 3_600 }, incomingStore: new LastingStore() }
        : { protocolVersion, clientId, clean: false, incomingStore: new LastingStore() }

    const subscribers: Subscriber[] = (
      [
        ['sub-v5-q1', 5, 1],
        ['sub-v5-q2', 5, 2],
        ['sub-311-q1', 4, 1],
        ['sub-311-q2', 4, 2],
      ] as const
    ).map(([id, version, qos], i) => ({
      qos,
      roamer: new Roamer(id, nodes, persistent(id, version), i, async (opened, fresh) => {
        if (fresh) await withTimeout(opened.client.subscribeAsync('chaos/#', { qos }), 10_000, `${id} SUBACK`)
      }),
    }))
    // Wills at QoS 2 to a QoS 2 subscription: each arrives once per publish, so a count above one is a will fired twice.
    const watcher = new Roamer('will-watch', nodes, persistent('will-watch', 5), 0, async (opened, fresh) => {
      if (fresh) await withTimeout(opened.client.subscribeAsync('will/#', { qos: 2 }), 10_000, 'will-watch SUBACK')
    })
    await Promise.all([...subscribers.map((s) => s.roamer.connecting), watcher.connecting])
    // Bounded, so that a client that cannot stop never keeps the brokers and namespaces alive.
    scene.cleanup.defer(() => withTimeout(Promise.all([...subscribers.map((s) => s.roamer.stop()), watcher.stop()]), 15_000, 'subscribers stopped').catch(() => undefined))

    // Every subscription's route reached every node before anything is counted.
    const probes = await Promise.all(nodes.map((n, i) => scene.client(n.mqttUrl, { protocolVersion: 5, clientId: `probe-${i}` })))
    await eventually(
      'a probe from every node at every subscriber',
      async () => {
        const seenAll = subscribers.every((s) => nodes.every((_, i) => payloadsOf(s.roamer, `chaos/probe/${i}`).length > 0))
        if (seenAll) return true
        await Promise.all(probes.map((p, i) => p.client.publishAsync(`chaos/probe/${i}`, 'probe', { qos: 0 })))
        return false
      },
      30_000,
    )
    for (const p of probes) await p.client.endAsync()

    const publishers = (
      [
        ['pub-v5-q1', 5, 1],
        ['pub-v5-q2', 5, 2],
        ['pub-311-q1', 4, 1],
        ['pub-311-q2', 4, 2],
      ] as const
    ).map(([id, version, qos], i) => new Publisher(new Roamer(id, nodes, { protocolVersion: version, clientId: id, clean: true }, i + 1), qos))
    scene.cleanup.defer(() => withTimeout(Promise.all(publishers.map((p) => p.stop())), 15_000, 'publishers stopped').catch(() => undefined))
    const chaosFrom = Date.now()

    const wills = new Map<string, { diedAt?: number; kind: string }>()
    const willClients: OpenedClient[] = []
    scene.cleanup.defer(() => withTimeout(Promise.all(willClients.map((c) => c.client.endAsync(true))), 15_000, 'will clients ended').catch(() => undefined))
    /** A persistent client with a will (no delay, QoS 2) on `node`; no reconnect: once cut off it is gone. */
    async function willClient(id: string, node: NetnsNode, kind: string): Promise<OpenedClient | undefined> {
      try {
        const opened = await openClient(node.mqttUrl, {
          protocolVersion: 5,
          clientId: id,
          clean: false,
          keepalive: KEEPALIVE_S,
          connectTimeout: 3_000,
          properties: { sessionExpiryInterval: 3_600 },
          will: { topic: `will/${id}`, payload: Buffer.from(id), qos: 2, retain: false },
        })
        willClients.push(opened)
        wills.set(id, { kind })
        return opened
      } catch {
        return undefined
      }
    }

    /** The clients on each killed node, measured at the end: the first time each was served again. */
    const kills: { step: number; faultAt: number; clients: Roamer[] }[] = []
    let step = 0
    const roamers = () => [...subscribers.map((s) => s.roamer), watcher, ...publishers.map((p) => p.roamer)]
    while (Date.now() - chaosFrom < CHAOS_MS) {
      step++
      // Drawn in a fixed order, so the seed alone fixes the schedule.
      const gapMs = 1_000 + Math.floor(random() * 3_000)
      const victimIndex = Math.floor(random() * nodes.length)
      const kind = FAULTS[Math.floor(random() * FAULTS.length)] as FaultKind
      const downMs = 2_000 + Math.floor(random() * 6_000)
      const dropAfterMs = 200 + Math.floor(random() * 1_500)
      const victim = nodes[victimIndex] as NetnsNode
      const bystander = nodes[(victimIndex + 1) % nodes.length] as NetnsNode
      await sleep(gapMs)

      // A will client on the victim (it goes with the fault), one on a healthy node dropped abruptly.
      const onVictim = await willClient(`w${step}-victim`, victim, `on ${victim.nodeId} (${kind})`)
      const dropped = await willClient(`w${step}-drop`, bystander, `dropped on ${bystander.nodeId}`)
      // The mirror writes the will into etcd after the CONNECT's turn: let it land before the fault.
      await sleep(300)
      const onVictimClients = roamers().filter((r) => r.node === victimIndex)
      const faultAt = Date.now()
      log(step, `${kind} ${victim.nodeId} for ${downMs} ms (${onVictimClients.length} roaming clients on it${onVictim === undefined ? ', its will client refused' : ''})`)
      if (onVictim !== undefined) onVictim.client.options.reconnectPeriod = 0
      switch (kind) {
        case 'kill':
          victim.kill()
          onVictim?.client.end(true)
          if (onVictim !== undefined) (wills.get(`w${step}-victim`) as { diedAt?: number }).diedAt = faultAt
          break
        case 'stop':
          victim.process.signal('SIGSTOP')
          break
        case 'partition':
          victim.isolate()
          break
        case 'term':
          victim.process.signal('SIGTERM')
          break
      }
      await sleep(dropAfterMs)
      if (dropped !== undefined) {
        ;(wills.get(`w${step}-drop`) as { diedAt?: number }).diedAt = Date.now()
        await dropConnection(dropped.client)
      }
      await sleep(Math.max(0, downMs - dropAfterMs))
      switch (kind) {
        case 'kill':
        case 'term': {
          const status = await withTimeout(victim.process.exited, 30_000, `${victim.nodeId} to exit`)
          log(step, `${victim.nodeId} exited (${status}); starting it again`)
          await restart(step, victim)
          processes.push({ nodeId: victim.nodeId, process: victim.process })
          break
        }
        case 'stop':
          victim.process.signal('SIGCONT')
          break
        case 'partition':
          victim.heal()
          break
      }
      log(step, `${victim.nodeId} back (${kind} healed)`)
      await eventually(`${victim.nodeId} to rejoin after step ${step}`, () => ready(victim), REJOIN_MS)
      log(step, `${victim.nodeId} rejoined`)
      if (kind === 'kill') kills.push({ step, faultAt, clients: onVictimClients })
      onVictim?.client.end(true)
    }
    log(step, 'chaos over: every node up; publishing on for 3 s')
    for (const node of nodes) await eventually(`${node.nodeId} ready at the end`, () => ready(node), REJOIN_MS)
    await sleep(3_000)
    await Promise.all(publishers.map((p) => p.stop()))
    const acked = publishers.flatMap((p) => [...p.acked].map((payload) => ({ payload, qos: p.qos })))

    const missingAt = (s: Subscriber): string[] => {
      const got = new Set(payloadsOf(s.roamer, 'chaos/pub-').map((m) => m.payload))
      return acked.filter((a) => !got.has(a.payload)).map((a) => a.payload)
    }
    await eventually('every acknowledged message at every subscriber', () => subscribers.every((s) => missingAt(s).length === 0), SETTLE_MS).catch(() => undefined)
    // Wills of clients that died with their node come from the leader after the lease expired.
    await eventually('the wills', () => [...wills.keys()].every((id) => payloadsOf(watcher, `will/${id}`).length > 0), 15_000).catch(() => undefined)

    const report: string[] = []
    const failures: string[] = []
    const trails = new Map(publishers.flatMap((p) => [...p.trail]))
    /** Payloads missing or delivered twice somewhere: their trails are printed. */
    const missingEverywhere = new Set<string>()
    for (const s of subscribers) {
      const missing = missingAt(s)
      for (const payload of missing) missingEverywhere.add(payload)
      const counts = new Map<string, number>()
      for (const m of payloadsOf(s.roamer, 'chaos/pub-')) if (m.qos === 2) counts.set(m.payload, (counts.get(m.payload) ?? 0) + 1)
      const twiceCounts = [...counts].filter(([, n]) => n > 1)
      for (const [payload] of twiceCounts) {
        missingEverywhere.add(payload)
        failures.push(`${s.roamer.id} copies of ${payload}: ${s.roamer.copiesOf(payload).join('; ')}`)
      }
      const twice = twiceCounts.map(([p, n]) => `${p}×${n}`)
      report.push(`${s.roamer.id}: ${payloadsOf(s.roamer, 'chaos/pub-').length} deliveries over ${s.roamer.incarnations.length} connections, ${missing.length} missing, ${twice.length} QoS 2 twice`)
      if (missing.length > 0) failures.push(`${s.roamer.id} misses ${missing.length}: ${ranges(missing)}`)
      if (twice.length > 0) failures.push(`${s.roamer.id} got QoS 2 twice: ${twice.slice(0, 50).join(' ')}`)
    }
    for (const payload of missingEverywhere) failures.push(`${payload}: ${trails.get(payload) ?? '?'}`)
    const willsTwice: string[] = []
    let willsFired = 0
    const willTimes: string[] = []
    for (const [id, will] of wills) {
      const arrived = payloadsOf(watcher, `will/${id}`)
      if (arrived.length > 0) willsFired++
      const at = watcher.arrivedAt(`will/${id}`)
      if (will.diedAt !== undefined) willTimes.push(`${id} (${will.kind}): ${at === undefined ? 'no will' : `will after ${at - will.diedAt} ms`}`)
      if (arrived.length > 1) willsTwice.push(`${id} (${will.kind}) ×${arrived.length}`)
    }
    if (willsTwice.length > 0) failures.push(`wills fired more than once: ${willsTwice.join(', ')}`)
    const unserved = roamers().flatMap((r) => r.failures)
    if (unserved.length > 0) failures.push(`clients not served: ${unserved.join(', ')}`)
    const lost = roamers().flatMap((r) => r.sessionsLost)
    if (lost.length > 0) failures.push(`persistent sessions resumed without their state: ${lost.join(', ')}`)

    console.log(
      [
        `chaos seed=${SEED}: ${step} faults in ${Math.round((Date.now() - startedAt) / 1_000)} s; ` +
          publishers.map((p) => `${p.roamer.id} ${p.acked.size} acked / ${p.failed} not`).join(', '),
        ...report,
        `wills: ${willsFired} of ${wills.size} fired, ${willsTwice.length} more than once`,
        ...kills.flatMap(({ step: killed, faultAt, clients }) =>
          clients.map((r) => {
            const back = r.served.find((s) => s.at > faultAt)
            return `recovery: step ${killed} ${r.id}: ${back === undefined ? 'never re-served' : `re-served on ${nodes[back.node]?.nodeId} after ${back.at - faultAt} ms`}`
          }),
        ),
        ...willTimes.map((w) => `will: ${w}`),
        ...(failures.length > 0 ? ['FAILURES:', ...failures, 'fault log:', ...faultLog, 'node warnings and errors:', ...brokerTrouble(processes)] : []),
      ].join('\n'),
    )
    const logDir = process.env.TEST_CHAOS_LOGS
    if (logDir !== undefined) {
      mkdirSync(logDir, { recursive: true })
      for (const [i, { nodeId, process }] of processes.entries()) writeFileSync(join(logDir, `${nodeId}-${i}.jsonl`), process.lines.map((l) => JSON.stringify(l)).join('\n'))
      console.log(`chaos: every broker's log lines in ${logDir}`)
    }
    expect(failures).toEqual([])
  }, CHAOS_MS + 600_000)
})
