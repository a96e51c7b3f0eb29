import { Cleanup, RecordingLogger, TcpProxy, until } from '@fluxmq/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { TransportError, TransportErrorCode } from './errors.js'
import type { InboundBatch } from './handlers.js'
import { connectPeer, fullMessage, message, recordingHandlers, startServer } from './test-support/nodes.js'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

const topics = (batches: readonly InboundBatch[]): string[] => batches.flatMap((b) => b.messages.map((m) => m.topic))

/** A promise with its resolve function, for handlers a test holds back. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void
  const promise = new Promise<void>((resolve) => (open = resolve))
  return { promise, open }
}

/** Node b behind a proxy the test cuts: its handler records each topic, then answers once `held` opens. */
async function heldBehindProxy(): Promise<{ held: ReturnType<typeof gate>; applied: string[]; proxy: TcpProxy }> {
  const held = gate()
  const applied: string[] = []
  const handlers = recordingHandlers({
    publishBatch: (batch) => {
      applied.push(...batch.messages.map((m) => m.topic))
      return held.promise
    },
  })
  const { port } = await startServer(cleanup, { nodeId: 'b', handlers })
  const proxy = cleanup.add(await TcpProxy.start(port), (p) => p.close())
  return { held, applied, proxy }
}

describe('PeerForwarder', () => {
  it('forwards every message once, in order, in batches of at most maxBatchMessages', async () => {
    const handlers = recordingHandlers()
    const { port } = await startServer(cleanup, { nodeId: 'b', handlers })
    const peer = connectPeer(cleanup, port)
    const sent = Array.from({ length: 1000 }, (_, i) => `t/${i}`)
    const accepted = sent.map((topic) => peer.forward(message(topic)))
    await Promise.all(accepted)
    expect(handlers.batches.map((b) => b.messages.length)).toEqual([256, 256, 256, 232])
    expect(topics(handlers.batches)).toEqual(sent)
    expect(handlers.batches.every((b) => b.from === 'a')).toBe(true)
    expect(peer.state).toMatchObject({ acceptedMessages: 1000, acceptedBatches: 4, pendingMessages: 0, breaker: 'closed' })
  })

  it('delivers messages with every field intact', async () => {
    const handlers = recordingHandlers()
    const { port } = await startServer(cleanup, { nodeId: 'b', handlers })
    const peer = connectPeer(cleanup, port)
    const { publisherId: _, ...bare } = message('$SYS/x', '', { qos: 0 })
    await Promise.all([peer.forward(fullMessage), peer.forward(bare)])
    expect(handlers.batches.flatMap((b) => b.messages)).toStrictEqual([fullMessage, bare])
  })

  it('carries the routing of a relayed or multi-node publish beside the message, and none for a plain one', async () => {
    const handlers = recordingHandlers()
    const { port } = await startServer(cleanup, { nodeId: 'b', handlers })
    const peer = connectPeer(cleanup, port)
    await Promise.all([peer.forward(message('r/plain')), peer.forward(message('r/relayed'), { otherNodes: ['c', 'd'], relayFor: 'mover' })])
    expect(handlers.batches).toHaveLength(1)
    expect(handlers.batches[0]?.routing).toStrictEqual([undefined, { otherNodes: ['c', 'd'], relayFor: 'mover' }])
    await peer.forward(message('r/alone'))
    expect(handlers.batches[1]?.routing).toBeUndefined()
  })

  it('drained() resolves once every message forwarded before it was applied by the receiver', async () => {
    const held = gate()
    const applied: string[] = []
    const handlers = recordingHandlers({
      publishBatch: async (batch) => {
        await held.promise
        applied.push(...batch.messages.map((m) => m.topic))
      },
    })
    const { port } = await startServer(cleanup, { nodeId: 'b', handlers })
    const peer = connectPeer(cleanup, port, { maxBatchMessages: 2 })
    for (let i = 0; i < 5; i++) void peer.forward(message(`d/${i}`))
    let drained = false
    const done = peer.drained().then(() => (drained = true))
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(drained).toBe(false)
    held.open()
    await done
    expect(applied).toEqual(['d/0', 'd/1', 'd/2', 'd/3', 'd/4'])
    await expect(peer.drained()).resolves.toBeUndefined()
  })

  it('closes a batch after maxBatchDelayMs, gathering messages forwarded in separate turns', async () => {
    const handlers = recordingHandlers()
    const { port } = await startServer(cleanup, { nodeId: 'b', handlers })
    const peer = connectPeer(cleanup, port, { maxBatchDelayMs: 200 })
    const started = performance.now()
    const first = peer.forward(message('t/1'))
    await new Promise((resolve) => setImmediate(resolve))
    const second = peer.forward(message('t/2'))
    await Promise.all([first, second])
    expect(performance.now() - started).toBeGreaterThanOrEqual(190)
    expect(handlers.batches.map((b) => b.messages.length)).toEqual([2])
  })

  it('bounds a batch by its estimated bytes', async () => {
    const handlers = recordingHandlers()
    const { port } = await startServer(cleanup, { nodeId: 'b', handlers })
    const peer = connectPeer(cleanup, port, { maxBatchBytes: 10_000 })
    await Promise.all(Array.from({ length: 5 }, (_, i) => peer.forward(message(`t/${i}`, Buffer.alloc(4000)))))
    expect(handlers.batches.map((b) => b.messages.length)).toEqual([2, 2, 1])
  })

  it('never applies a batch twice when its acknowledgement is lost and it is resent', async () => {
    const applied: string[] = []
    // The proxy starts after the server it fronts; the handler reaches it through this slot.
    const network: { proxy?: TcpProxy } = {}
    const handlers = recordingHandlers({
      publishBatch: (batch) => {
        applied.push(...batch.messages.map((m) => m.topic))
        // The first batch is applied, then the connection dies before its ack can leave.
        if (applied.length === 3) network.proxy?.cutAll()
      },
    })
    const { port } = await startServer(cleanup, { nodeId: 'b', handlers })
    const proxy = cleanup.add(await TcpProxy.start(port), (p) => p.close())
    network.proxy = proxy
    const peer = connectPeer(cleanup, proxy.port, { retryMinMs: 5 })
    await Promise.all(['q/1', 'q/2', 'q/3'].map((topic) => peer.forward(message(topic))))
    expect(peer.state.resentBatches).toBe(1)
    expect(peer.state.streamFailures).toBeGreaterThanOrEqual(1)
    await peer.forward(message('q/4'))
    expect(applied).toEqual(['q/1', 'q/2', 'q/3', 'q/4'])
  })

  it('reports a refused batch with the receiver code and does not resend it', async () => {
    const handlers = recordingHandlers({
      publishBatch: (batch) => {
        if (batch.messages[0]?.topic === 'bad') throw Object.assign(new Error('stale epoch'), { code: 'FLUXMQ_ERR_STALE_EPOCH' })
      },
    })
    const { port } = await startServer(cleanup, { nodeId: 'b', handlers })
    const peer = connectPeer(cleanup, port)
    const refused = peer.forward(message('bad'))
    await expect(refused).rejects.toMatchObject({ code: TransportErrorCode.Rejected, remoteCode: 'FLUXMQ_ERR_STALE_EPOCH', inDoubt: false })
    await expect(peer.forward(message('good'))).resolves.toBeUndefined()
    expect(peer.state).toMatchObject({ rejectedBatches: 1, acceptedBatches: 1, resentBatches: 0 })
  })

  it('refuses a stream meant for another node', async () => {
    const { port } = await startServer(cleanup, { nodeId: 'c', handlers: recordingHandlers() })
    const peer = connectPeer(cleanup, port, { failureThreshold: 1, openMs: 60_000 })
    await until(() => peer.state.breaker === 'open', 'the breaker to open')
    const forwarded = peer.forward(message('t'))
    expect(forwarded).toBeInstanceOf(Promise)
    await expect(forwarded).rejects.toMatchObject({ code: TransportErrorCode.PeerUnavailable })
  })

  it('keeps at most `credit` batches at a slow receiver and reports backpressure at the memory bound', async () => {
    const held = gate()
    let started = 0
    const slow = recordingHandlers({
      publishBatch: () => {
        started += 1
        return held.promise
      },
    })
    const fast = recordingHandlers()
    const slowNode = await startServer(cleanup, { nodeId: 'b', handlers: slow, credit: 2 })
    const fastNode = await startServer(cleanup, { nodeId: 'c', handlers: fast })
    const toSlow = connectPeer(cleanup, slowNode.port, { maxBatchMessages: 10, maxPendingMessages: 100 })
    const toFast = connectPeer(cleanup, fastNode.port, { peerNode: 'c', maxBatchMessages: 10, maxPendingMessages: 100 })

    const pending: Promise<void>[] = []
    let refusedAt: number | undefined
    for (let i = 0; i < 1000 && refusedAt === undefined; i += 1) {
      const accepted = toSlow.forward(message(`s/${i}`))
      if (accepted === false) refusedAt = i
      else pending.push(accepted)
      // Each turn lets batches go out, so the bound is reached through credit, not one burst.
      if (i % 10 === 9) await new Promise((resolve) => setImmediate(resolve))
    }
    expect(refusedAt).toBe(100)
    expect(toSlow.state.pendingMessages).toBe(100)
    expect(started).toBeLessThanOrEqual(2)

    // The slow peer holds up nothing else: the other peer's forwards are accepted meanwhile.
    await Promise.all(Array.from({ length: 50 }, (_, i) => toFast.forward(message(`f/${i}`))))
    expect(topics(fast.batches)).toHaveLength(50)
    expect(toSlow.state.acceptedMessages).toBe(0)

    const ready = toSlow.ready()
    held.open()
    await ready
    await Promise.all(pending)
    expect(toSlow.state).toMatchObject({ acceptedMessages: 100, pendingMessages: 0 })
    expect(toSlow.forward(message('after'))).toBeInstanceOf(Promise)
  })

  it('opens the circuit breaker after consecutive failures, fails fast, and closes it when a probe succeeds', async () => {
    const handlers = recordingHandlers()
    const first = await startServer(cleanup, { nodeId: 'b', handlers })
    const logger = new RecordingLogger()
    const peer = connectPeer(cleanup, first.port, { failureThreshold: 3, openMs: 200, retryMinMs: 5, logger })
    await peer.forward(message('before'))

    await first.server.close()
    await until(() => peer.state.breaker === 'open', 'the breaker to open')
    expect(peer.state.consecutiveFailures).toBe(3)
    const failFast = peer.forward(message('while-open'))
    expect(failFast).toBeInstanceOf(Promise)
    await expect(failFast).rejects.toBeInstanceOf(TransportError)
    await expect(failFast).rejects.toMatchObject({ code: TransportErrorCode.PeerUnavailable, inDoubt: false })
    await expect(peer.takeOver({ clientId: 'c', epoch: 1 })).rejects.toMatchObject({ code: TransportErrorCode.PeerUnavailable })

    // A failed probe opens it again; a successful one closes it.
    await until(() => peer.state.consecutiveFailures >= 4, 'a failed probe')
    expect(peer.state.breaker).not.toBe('closed')
    await startServer(cleanup, { nodeId: 'b', handlers, port: first.port })
    await until(() => peer.state.breaker === 'closed', 'the breaker to close', 10_000)
    await peer.forward(message('after'))
    expect(topics(handlers.batches)).toEqual(['before', 'after'])
    // The outage is one warning and one recovery line, whatever the number of failed probes.
    const breakerLines = logger.lines.filter((l) => l.level !== 'debug' && l.msg?.startsWith('circuit breaker'))
    expect(breakerLines.map((l) => [l.level, l.msg, l.obj.node, l.obj.peer])).toEqual([
      ['warn', 'circuit breaker open', 'a', 'b'],
      ['info', 'circuit breaker closed', 'a', 'b'],
    ])
  })

  it('keeps a sent, unacknowledged batch through an outage and resends it without applying it twice', async () => {
    const { held, applied, proxy } = await heldBehindProxy()
    const peer = connectPeer(cleanup, proxy.port, { failureThreshold: 2, openMs: 100, retryMinMs: 5 })
    const inDoubt = peer.forward(message('d/1'))
    let settled = false
    void (inDoubt as Promise<void>).then(() => (settled = true), () => (settled = true))
    await until(() => applied.length === 1, 'the batch to reach the handler')

    proxy.refuse(true)
    proxy.cutAll()
    await until(() => peer.state.breaker === 'open', 'the breaker to open')
    await expect(peer.forward(message('d/2'))).rejects.toMatchObject({ code: TransportErrorCode.PeerUnavailable, inDoubt: false })
    expect(settled).toBe(false)

    proxy.refuse(false)
    await until(() => peer.state.breaker === 'closed', 'the breaker to close')
    held.open()
    await inDoubt
    expect(applied).toEqual(['d/1'])
    expect(peer.state.resentBatches).toBeGreaterThanOrEqual(1)
  })

  it('never sends, nor sends again after a broken stream, a batch routed at or below its fence', async () => {
    const { held, applied, proxy } = await heldBehindProxy()
    const peer = connectPeer(cleanup, proxy.port, { failureThreshold: 100, retryMinMs: 5, retryMaxMs: 50 })
    const onWire = peer.forward(message('w/1'), undefined, 0, 10)
    await until(() => applied.length === 1, 'the batch to reach the handler')
    proxy.refuse(true)
    proxy.cutAll()
    await until(() => peer.state.streamFailures >= 1, 'the stream to break')
    const waiting = peer.forward(message('w/2'), undefined, 0, 11)

    // The lease under which sequences up to 11 were routed is lost.
    peer.fence(11)
    await expect(onWire).rejects.toMatchObject({ code: TransportErrorCode.Fenced, inDoubt: true })
    await expect(waiting).rejects.toMatchObject({ code: TransportErrorCode.Fenced, inDoubt: false })
    await expect(peer.forward(message('w/3'), undefined, 0, 11)).rejects.toMatchObject({ code: TransportErrorCode.Fenced, inDoubt: false })

    proxy.refuse(false)
    held.open()
    await peer.forward(message('w/4'), undefined, 0, 12)
    expect(applied).toEqual(['w/1', 'w/4'])
    expect(peer.state).toMatchObject({ resentBatches: 0, pendingMessages: 0 })
  })

  it('reports a sent, unacknowledged batch in doubt instead of resending it to a peer that restarted', async () => {
    const held = gate()
    const first = await startServer(cleanup, { nodeId: 'b', handlers: recordingHandlers({ publishBatch: () => held.promise }) })
    const logger = new RecordingLogger()
    const peer = connectPeer(cleanup, first.port, { retryMinMs: 5, logger })
    const inDoubt = peer.forward(message('r/1'))
    await until(() => peer.state.unackedBatches === 1, 'the batch to be sent')
    // The peer's process ends with the batch applied or not; another one listens in its place.
    await first.server.close()
    const handlers = recordingHandlers()
    await startServer(cleanup, { nodeId: 'b', handlers, port: first.port })
    await expect(inDoubt).rejects.toMatchObject({ code: TransportErrorCode.PeerUnavailable, inDoubt: true })
    await peer.forward(message('r/2'))
    expect(topics(handlers.batches)).toEqual(['r/2'])
    expect(logger.lines.filter((l) => l.msg?.startsWith('peer restarted')).map((l) => l.obj)).toEqual([expect.objectContaining({ batches: 1, messages: 1 })])
    held.open()
  })

  it('rejects what it holds when closed, flagging batches that may have arrived', async () => {
    const held = gate()
    const handlers = recordingHandlers({ publishBatch: () => held.promise })
    const { port } = await startServer(cleanup, { nodeId: 'b', handlers })
    const peer = connectPeer(cleanup, port)
    const sent = peer.forward(message('t/1'))
    await until(() => peer.state.unackedBatches === 1, 'the batch to be sent')
    const unsent = peer.forward(message('t/2'))
    peer.close()
    held.open()
    await expect(sent).rejects.toMatchObject({ code: TransportErrorCode.Closed, inDoubt: true })
    await expect(unsent).rejects.toMatchObject({ code: TransportErrorCode.Closed, inDoubt: false })
  })
})
