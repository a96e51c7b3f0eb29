import { describe, expect, it } from 'vitest'
import { Store, type IClientOptions, type MqttClient } from 'mqtt'
import { closeClient, type OpenedClient, type ReceivedMessage } from '@fluxmq/testing'
import { clusterForTests, eventually, routeVisible } from './support/cluster.js'

// Three real fluxmq processes, each with its embedded etcd member; sessions move between them
// while publishers keep streaming to them. With memory storage a surrender hands the queue over
// at once; with SQLite it reads the stored queue first, while publishes keep arriving.

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number
}

/** Publishes QoS 1 and QoS 2 in turn, one at a time, until stopped; remembers what was acknowledged. */
class Streamer {
  readonly acked = new Map<string, 1 | 2>()
  /** Reason codes of PUBACK/PUBREC other than Success. */
  readonly refusals: number[] = []
  private stopped = false
  private readonly done: Promise<void>

  constructor(
    private readonly name: string,
    private readonly client: MqttClient,
  ) {
    client.on('packetreceive', (packet) => {
      if ((packet.cmd === 'puback' || packet.cmd === 'pubrec') && (packet.reasonCode ?? 0) !== 0) this.refusals.push(packet.reasonCode as number)
    })
    this.done = this.run()
  }

  private async run(): Promise<void> {
    for (let seq = 0; !this.stopped; seq++) {
      const qos = seq % 2 === 0 ? 1 : 2
      const payload = `${this.name}-${qos}-${seq}`
      await this.client.publishAsync(`mv/q${qos}`, payload, { qos })
      this.acked.set(payload, qos)
    }
  }

  stop(): Promise<void> {
    this.stopped = true
    return this.done
  }
}

describe.each(['memory', 'sqlite'])('session moves between the nodes of a 3-node cluster (%s storage) while publishers stream to it', (storage) => {
  const { scene, node } = clusterForTests(3, ['--set', `storage.type=${storage}`])

  it('loses no acknowledged QoS 1 or QoS 2 publish, delivers no QoS 2 publish twice, and takes over quickly', async () => {
    // One incoming store across the client's connections, as one real client keeps: a QoS 2
    // delivery whose PUBREL comes on the next connection is released there, not lost.
    const incomingStore = new Store()
    const options: IClientOptions = { protocolVersion: 5, clientId: 'mv-sub', clean: false, properties: { sessionExpiryInterval: 300 }, incomingStore }
    const incarnations: OpenedClient[] = [await scene.client(node(0).mqttUrl, options)]
    await incarnations[0]!.client.subscribeAsync('mv/#', { qos: 2 })

    const publishers = await Promise.all([
      scene.client(node(2).mqttUrl, { protocolVersion: 5, clientId: 'mv-pub-3' }),
      scene.client(node(0).mqttUrl, { protocolVersion: 5, clientId: 'mv-pub-1' }),
    ])
    // Streaming starts once the subscription's route reached both publishing nodes.
    for (const [i, pub] of publishers.entries()) await routeVisible(incarnations[0]!, pub.client, `mv/probe${i}`)
    const streamers = [new Streamer('p3', publishers[0]!.client), new Streamer('p1', publishers[1]!.client)]

    const all = (): ReceivedMessage[] => incarnations.flatMap((c) => c.inbox.messages).filter((m) => !m.topic.startsWith('mv/probe'))
    const takeoverMs: number[] = []
    const moves = 30
    for (let k = 1; k <= moves; k++) {
      const current = incarnations[incarnations.length - 1] as OpenedClient
      // Messages are flowing to the current connection before it is moved away.
      const before = current.inbox.messages.length
      await eventually(`deliveries before move ${k}`, () => current.inbox.messages.length >= before + 5, 20_000)
      const started = performance.now()
      const moved = await scene.client(node(k % 3).mqttUrl, options)
      takeoverMs.push(performance.now() - started)

      expect(moved.connack.sessionPresent).toBe(true)
      incarnations.push(moved)
    }
    const last = incarnations[incarnations.length - 1] as OpenedClient
    const before = last.inbox.messages.length
    await eventually('deliveries after the last move', () => last.inbox.messages.length >= before + 5, 20_000)
    await Promise.all(streamers.map((s) => s.stop()))

    const acked = new Map(streamers.flatMap((s) => [...s.acked]))
    const received = (): Set<string> => new Set(all().map((m) => m.payload.toString()))
    await eventually('every acknowledged publish at the subscriber', () => [...acked.keys()].every((p) => received().has(p)), 30_000).catch(() => undefined)
    const got = received()
    const missing = [...acked.keys()].filter((p) => !got.has(p))
    const counts = new Map<string, number>()
    for (const m of all()) counts.set(m.payload.toString(), (counts.get(m.payload.toString()) ?? 0) + 1)
    const qos2Twice = [...counts].filter(([p, n]) => n > 1 && acked.get(p) === 2).map(([p]) => p)
    const qos1Again = [...counts].filter(([p, n]) => n > 1 && acked.get(p) === 1).length
    const sorted = [...takeoverMs].sort((a, b) => a - b)
    console.log(
      `${storage}: ${moves} moves over 3 nodes: takeover CONNECT → CONNACK p50 ${percentile(sorted, 50).toFixed(1)} ms, p99 ${percentile(sorted, 99).toFixed(1)} ms, ` +
        `max ${(sorted[sorted.length - 1] as number).toFixed(1)} ms; ${acked.size} acknowledged publishes, ${missing.length} missing, ` +
        `${qos2Twice.length} QoS 2 twice, ${qos1Again} QoS 1 again (allowed)`,
    )
    expect(streamers.flatMap((s) => s.refusals)).toEqual([])
    expect(missing).toEqual([])
    expect(qos2Twice).toEqual([])
    // Generous for a shared, loaded machine; the printed p99 is the number to compare with the 100 ms target.
    expect(percentile(sorted, 99)).toBeLessThan(1_000)
    for (const c of [last, ...publishers]) await closeClient(c.client)
  })
})
