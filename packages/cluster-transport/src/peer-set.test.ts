import { Cleanup } from '@fluxmq/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { TransportErrorCode } from './errors.js'
import { PeerSet } from './peer-set.js'
import { message, recordingHandlers, startServer } from './test-support/nodes.js'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

describe('PeerSet', () => {
  it('follows the membership: adds new nodes, closes gone ones, reconnects a moved one, skips itself', async () => {
    const b = recordingHandlers()
    const c = recordingHandlers({ publishBatch: () => new Promise<void>(() => undefined) })
    const movedB = recordingHandlers()
    const nodeB = await startServer(cleanup, { nodeId: 'b', handlers: b })
    const nodeC = await startServer(cleanup, { nodeId: 'c', handlers: c })
    const nodeBMoved = await startServer(cleanup, { nodeId: 'b', handlers: movedB })
    const peers = cleanup.add(new PeerSet({ localNode: 'a' }), (set) => set.close())

    peers.update([
      { nodeId: 'a', address: '127.0.0.1:1' },
      { nodeId: 'b', address: `127.0.0.1:${nodeB.port}` },
      { nodeId: 'c', address: `127.0.0.1:${nodeC.port}` },
    ])
    expect(peers.get('a')).toBeUndefined()
    expect(peers.states.map((s) => s.peer).sort()).toEqual(['b', 'c'])
    const first = peers.get('b')
    await first?.forward(message('to-b'))
    const stuck = peers.get('c')?.forward(message('to-c'))

    peers.update([{ nodeId: 'b', address: `127.0.0.1:${nodeBMoved.port}` }])
    await expect(stuck).rejects.toMatchObject({ code: TransportErrorCode.Closed })
    expect(peers.get('c')).toBeUndefined()
    expect(peers.get('b')).not.toBe(first)
    await peers.get('b')?.forward(message('to-b-moved'))
    expect(b.batches.flatMap((x) => x.messages.map((m) => m.topic))).toEqual(['to-b'])
    expect(movedB.batches.flatMap((x) => x.messages.map((m) => m.topic))).toEqual(['to-b-moved'])
  })
})
