import type { TransferredSession } from '@fluxmq/core'
import { Cleanup, RecordingLogger, TcpProxy } from '@fluxmq/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { TransportErrorCode } from './errors.js'
import type { TakeoverRequest } from './handlers.js'
import { chunks } from './session-service.js'
import { connectPeer, message, recordingHandlers, startServer } from './test-support/nodes.js'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

/** A session with something in every part of its state. */
function fullSession(offlineCount: number): TransferredSession {
  return {
    session: {
      clientId: 'dev-1',
      protocol: 'mqtt5',
      expiryInterval: 3600,
      disconnectedAt: 1_700_000_001_000,
      will: { message: message('dev/1/status', 'gone', { qos: 1, retain: true, publisherId: 'dev-1' }), delayInterval: 30 },
    },
    subscriptions: [
      { filter: 'cmd/dev-1/#', qos: 2, noLocal: true, retainAsPublished: true, retainHandling: 1, subscriptionId: 7 },
      { filter: '$share/g/jobs/+', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 2, userProperties: [['consumer-group', 'g']] },
    ],
    inflight: [
      { deliveryId: 0x1000b, message: message('cmd/dev-1/a', 'one', { qos: 1 }), qos: 1, retain: false, state: 'delivered', subscriptionIds: [7] },
      { deliveryId: 0x1000c, message: message('cmd/dev-1/b', 'two', { qos: 2 }), qos: 2, retain: true, state: 'received' },
    ],
    incomingQos2: [3, 4],
    releasedQos2: [5],
    offline: Array.from({ length: offlineCount }, (_, i) => message(`cmd/dev-1/${i}`, Buffer.alloc(300, i), { qos: 2, expiresAt: 1_800_000_000_000 + i })),
  }
}

describe('SessionService.TakeOver', () => {
  it('hands over the full state, the offline queue in several chunks, with the previous epoch', async () => {
    const transferred = fullSession(50)
    const requests: TakeoverRequest[] = []
    const handlers = recordingHandlers({
      takeOver: (request) => {
        requests.push(request)
        return Promise.resolve({ transferred, epoch: 41 })
      },
    })
    const { port } = await startServer(cleanup, { nodeId: 'b', handlers, chunkBytes: 1000 })
    const peer = connectPeer(cleanup, port)
    const result = await peer.takeOver({ clientId: 'dev-1', epoch: 42 })
    expect(requests).toEqual([{ clientId: 'dev-1', requesterNode: 'a', epoch: 42 }])
    expect(result).toStrictEqual({ transferred, epoch: 41 })
  })

  it('cuts the offline queue into chunks of at most chunkBytes of payload, a larger message alone', () => {
    const sizes = [300, 300, 300, 300, 2500, 10]
    const offline = sizes.map((size, i) => message(`t/${i}`, Buffer.alloc(size)))
    expect([...chunks(offline, 1000)].map((chunk) => chunk.map((m) => m.payload.length))).toEqual([[300, 300, 300], [300], [2500], [10]])
  })

  it('answers a repeated request for the same epoch from memory, and asks again for a new epoch', async () => {
    let calls = 0
    const handlers = recordingHandlers({
      takeOver: () => {
        calls += 1
        return Promise.resolve({ transferred: fullSession(2), epoch: calls })
      },
    })
    const { port } = await startServer(cleanup, { nodeId: 'b', handlers })
    const peer = connectPeer(cleanup, port)
    const first = await peer.takeOver({ clientId: 'dev-1', epoch: 42 })
    const again = await peer.takeOver({ clientId: 'dev-1', epoch: 42 })
    expect(calls).toBe(1)
    expect(again).toStrictEqual(first)
    await peer.takeOver({ clientId: 'dev-1', epoch: 43 })
    expect(calls).toBe(2)
  })

  it('gets the same state on a retry after the stream broke mid-transfer; the session is surrendered once', async () => {
    const transferred = fullSession(0)
    const big = { ...transferred, offline: Array.from({ length: 200 }, (_, i) => message(`q/${i}`, Buffer.alloc(50_000, i))) }
    const network: { proxy?: TcpProxy } = {}
    let calls = 0
    const handlers = recordingHandlers({
      takeOver: () => {
        calls += 1
        // The connection dies while the state is streaming out.
        setImmediate(() => network.proxy?.cutAll())
        return Promise.resolve({ transferred: big, epoch: 9 })
      },
    })
    const logger = new RecordingLogger()
    const { port } = await startServer(cleanup, { nodeId: 'b', handlers, chunkBytes: 64 * 1024, logger })
    const proxy = cleanup.add(await TcpProxy.start(port), (p) => p.close())
    network.proxy = proxy
    const peer = connectPeer(cleanup, proxy.port)
    const result = await peer.takeOver({ clientId: 'dev-1', epoch: 10 })
    if (result === undefined || 'lost' in result) throw new Error('no state')
    expect(calls).toBe(1)
    const repeated = logger.lines.filter((l) => l.msg === 'takeover repeated, answered from memory')
    expect(repeated.map((l) => [l.obj.clientId, l.obj.peer, l.obj.epoch])).toEqual([['dev-1', 'a', 10]])
    expect(result.transferred.offline.map((m) => m.topic)).toEqual(big.offline.map((m) => m.topic))
    expect(result.transferred.offline.every((m, i) => m.payload.equals(big.offline[i]?.payload ?? Buffer.alloc(0)))).toBe(true)
  }, 20_000)

  it('is undefined when the node holds no session of the client', async () => {
    const { port } = await startServer(cleanup, { nodeId: 'b', handlers: recordingHandlers() })
    await expect(connectPeer(cleanup, port).takeOver({ clientId: 'nobody', epoch: 1 })).resolves.toBeUndefined()
  })

  it('says so when the node holds no session because it lost its lease, with how far it had routed', async () => {
    const routedUpTo = Date.now() * 1_000 + 12_345
    const handlers = recordingHandlers({ takeOver: () => Promise.resolve({ lost: true, routedUpTo }) })
    const { port } = await startServer(cleanup, { nodeId: 'b', handlers })
    await expect(connectPeer(cleanup, port).takeOver({ clientId: 'dev-1', epoch: 3 })).resolves.toStrictEqual({ lost: true, routedUpTo })
  })

  it('reports a refusal with the code the previous owner gave', async () => {
    const handlers = recordingHandlers({
      takeOver: () => Promise.reject(Object.assign(new Error('epoch 3 is older than 5'), { code: 'FLUXMQ_ERR_STALE_EPOCH' })),
    })
    const { port } = await startServer(cleanup, { nodeId: 'b', handlers })
    await expect(connectPeer(cleanup, port).takeOver({ clientId: 'dev-1', epoch: 3 })).rejects.toMatchObject({
      code: TransportErrorCode.Rejected,
      remoteCode: 'FLUXMQ_ERR_STALE_EPOCH',
    })
  })
})
