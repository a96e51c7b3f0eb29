import { readFileSync } from 'node:fs'
import { createClient } from '@connectrpc/connect'
import { createGrpcTransport } from '@connectrpc/connect-node'
import { Cleanup } from '@fluxmq/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TransportErrorCode } from './errors.js'
import { SessionService } from './gen/fluxmq/cluster/v1/session_pb.js'
import type { TlsFiles } from './tls.js'
import { makeCa } from './test-support/certs.js'
import { connectPeer, message, recordingHandlers, startServer } from './test-support/nodes.js'

const files = new Cleanup()
let nodeA: TlsFiles
let nodeB: TlsFiles
let outsider: TlsFiles

beforeAll(async () => {
  const dir = files.tempDir('fluxmq-transport-tls-')
  const ca = await makeCa(dir, 'cluster-ca')
  const otherCa = await makeCa(dir, 'other-ca')
  nodeA = await ca.issue('a')
  nodeB = await ca.issue('b')
  outsider = await otherCa.issue('a')
}, 60_000)
afterAll(() => files.run())

describe('mutual TLS', () => {
  it('carries forwards and calls between nodes whose certificates the cluster CA signed', async () => {
    const cleanup = new Cleanup()
    try {
      const handlers = recordingHandlers()
      const { port } = await startServer(cleanup, { nodeId: 'b', handlers, tls: nodeB })
      const peer = connectPeer(cleanup, port, { tls: nodeA })
      await peer.forward(message('secure/1'))
      expect(handlers.batches.flatMap((b) => b.messages.map((m) => m.topic))).toEqual(['secure/1'])
      await expect(peer.takeOver({ clientId: 'c', epoch: 1 })).resolves.toBeUndefined()
    } finally {
      await cleanup.run()
    }
  })

  const refused: [string, () => Partial<{ tls: TlsFiles }>][] = [
    ['a certificate another CA signed', () => ({ tls: outsider })],
    ['no certificate at all (cleartext h2c)', () => ({})],
  ]
  it.each(refused)('refuses a peer with %s', async (_, options) => {
    const cleanup = new Cleanup()
    try {
      const reached: string[] = []
      const handlers = recordingHandlers({
        takeOver: (request) => {
          reached.push(request.clientId)
          return Promise.resolve(undefined)
        },
      })
      const { port } = await startServer(cleanup, { nodeId: 'b', handlers, tls: nodeB })
      const peer = connectPeer(cleanup, port, { callAttempts: 1, ...options() })
      await expect(peer.takeOver({ clientId: 'c', epoch: 1 })).rejects.toMatchObject({ code: TransportErrorCode.PeerUnavailable })
      expect(reached).toEqual([])
      expect(peer.state.acceptedBatches).toBe(0)
    } finally {
      await cleanup.run()
    }
  })

  it('refuses a client that trusts the cluster CA but presents no certificate', async () => {
    const cleanup = new Cleanup()
    try {
      const reached: string[] = []
      const handlers = recordingHandlers({
        takeOver: (request) => {
          reached.push(request.clientId)
          return Promise.resolve(undefined)
        },
      })
      const { port } = await startServer(cleanup, { nodeId: 'b', handlers, tls: nodeB })
      // Not expressible through Peer (it always presents its node certificate): a bare gRPC client.
      const transport = createGrpcTransport({ baseUrl: `https://127.0.0.1:${port}`, nodeOptions: { ca: readFileSync(nodeB.caFile) } })
      const call = async (): Promise<void> => {
        for await (const _ of createClient(SessionService, transport).takeOver({ clientId: 'c' })) break
      }
      await expect(call()).rejects.toMatchObject({ rawMessage: expect.stringMatching(/certificate required/) })
      expect(reached).toEqual([])
    } finally {
      await cleanup.run()
    }
  })

  it('names the file it cannot read', async () => {
    const cleanup = new Cleanup()
    try {
      await expect(startServer(cleanup, { nodeId: 'b', handlers: recordingHandlers(), tls: { ...nodeB, caFile: '/nonexistent/ca.pem' } })).rejects.toMatchObject({
        code: TransportErrorCode.Tls,
        message: expect.stringContaining('/nonexistent/ca.pem'),
      })
    } finally {
      await cleanup.run()
    }
  })
})
