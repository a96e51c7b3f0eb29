import { randomBytes } from 'node:crypto'
import type { Message } from '@fluxmq/core'
import { Cleanup } from '@fluxmq/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { TransportErrorCode } from './errors.js'
import type { PayloadRequest } from './handlers.js'
import { connectPeer, message, recordingHandlers, startServer } from './test-support/nodes.js'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

describe('PayloadService.FetchPayload', () => {
  it('fetches a retained message and a will larger than one chunk, byte for byte', async () => {
    const retained = message('big/retained', randomBytes(5 * 1024 * 1024 + 17), {
      retain: true,
      properties: { contentType: 'application/octet-stream', userProperties: [['a', 'b']] },
    })
    const will = message('dev/1/status', randomBytes(300_000), { publisherId: 'dev-1' })
    const held = new Map<string, Message>([
      ['retained:big/retained', retained],
      ['will:dev-1', will],
    ])
    const asked: PayloadRequest[] = []
    const handlers = recordingHandlers({
      fetchPayload: (request) => {
        asked.push(request)
        return held.get(`${request.kind}:${request.key}`)
      },
    })
    const { port } = await startServer(cleanup, { nodeId: 'b', handlers })
    const peer = connectPeer(cleanup, port)
    // Payloads compared with Buffer.equals: a deep equality walk over megabytes takes minutes.
    const same = (fetched: Message | undefined, original: Message): void => {
      const { payload, ...rest } = original
      expect(fetched).toBeDefined()
      expect(fetched?.payload.equals(payload)).toBe(true)
      expect({ ...fetched, payload: undefined }).toStrictEqual({ ...rest, payload: undefined })
    }
    same(await peer.fetchPayload({ kind: 'retained', key: 'big/retained' }), retained)
    same(await peer.fetchPayload({ kind: 'will', key: 'dev-1' }), will)
    expect(asked).toEqual([
      { kind: 'retained', key: 'big/retained' },
      { kind: 'will', key: 'dev-1' },
    ])
  }, 20_000)

  it('refuses a payload larger than maxMessageBytes before allocating it', async () => {
    const handlers = recordingHandlers({ fetchPayload: () => message('big', Buffer.alloc(2 * 1024 * 1024)) })
    const { port } = await startServer(cleanup, { nodeId: 'b', handlers })
    const peer = connectPeer(cleanup, port, { maxMessageBytes: 1024 * 1024 })
    await expect(peer.fetchPayload({ kind: 'retained', key: 'big' })).rejects.toMatchObject({ code: TransportErrorCode.Protocol })
  })

  it('is undefined when the node does not hold it', async () => {
    const { port } = await startServer(cleanup, { nodeId: 'b', handlers: recordingHandlers() })
    await expect(connectPeer(cleanup, port).fetchPayload({ kind: 'retained', key: 'none' })).resolves.toBeUndefined()
  })
})
