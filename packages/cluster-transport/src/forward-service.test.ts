import { create } from '@bufbuild/protobuf'
import { createClient } from '@connectrpc/connect'
import { createGrpcTransport } from '@connectrpc/connect-node'
import { Cleanup } from '@fluxmq/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { toWireMessage } from './convert.js'
import { TransportErrorCode } from './errors.js'
import { ForwardRequestSchema, ForwardService, type ForwardRequest, type ForwardResponse } from './gen/fluxmq/cluster/v1/forward_pb.js'
import { message, recordingHandlers, startServer } from './test-support/nodes.js'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

const open = (epoch: bigint): ForwardRequest =>
  create(ForwardRequestSchema, { kind: { case: 'open', value: { senderNode: 'a', receiverNode: 'b', epoch } } })
const batch = (sequence: bigint, topic: string): ForwardRequest =>
  create(ForwardRequestSchema, { kind: { case: 'batch', value: { sequence, messages: [toWireMessage(message(topic))] } } })

/** Sends `requests` on one raw Forward stream (no PeerForwarder) and collects the responses, or the error ending it. */
async function exchange(port: number, requests: ForwardRequest[]): Promise<{ responses: ForwardResponse[]; error?: unknown }> {
  const client = createClient(ForwardService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }))
  const responses: ForwardResponse[] = []
  async function* send(): AsyncGenerator<ForwardRequest> {
    for (const request of requests) yield request
    // Keep the request side open until the server answered or ended the stream.
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
  try {
    for await (const response of client.forward(send())) {
      responses.push(response)
      if (responses.length === requests.length) break
    }
    return { responses }
  } catch (error) {
    return { responses, error }
  }
}

describe('ForwardService receiver', () => {
  it('acknowledges in order, answers a repeated sequence from the window, and applies it once', async () => {
    const handlers = recordingHandlers()
    const { port } = await startServer(cleanup, { nodeId: 'b', handlers, credit: 4 })
    const { responses, error } = await exchange(port, [open(7n), batch(1n, 't/1'), batch(2n, 't/2'), batch(2n, 't/2-again')])
    expect(error).toBeUndefined()
    expect(responses.map((r) => r.kind.case)).toEqual(['opened', 'ack', 'ack', 'ack'])
    expect(responses[0]?.kind.value).toMatchObject({ credit: 4 })
    expect(responses.slice(1).map((r) => (r.kind.case === 'ack' ? r.kind.value.sequence : undefined))).toEqual([1n, 2n, 2n])
    expect(handlers.batches.flatMap((b) => b.messages.map((m) => m.topic))).toEqual(['t/1', 't/2'])
  })

  it('refuses a stream that does not start with ForwardOpen', async () => {
    const { port } = await startServer(cleanup, { nodeId: 'b', handlers: recordingHandlers() })
    const { error } = await exchange(port, [batch(1n, 't')])
    expect((error as { metadata: Headers }).metadata.get('fluxmq-error-code')).toBe(TransportErrorCode.Protocol)
  })

  it('refuses a sender that exceeds its credit', async () => {
    const handlers = recordingHandlers({ publishBatch: () => new Promise<void>(() => undefined) })
    const { port } = await startServer(cleanup, { nodeId: 'b', handlers, credit: 2 })
    const { error } = await exchange(port, [open(1n), batch(1n, 'a'), batch(2n, 'b'), batch(3n, 'c')])
    expect((error as { metadata: Headers }).metadata.get('fluxmq-error-code')).toBe(TransportErrorCode.Protocol)
    expect(handlers.batches).toHaveLength(0)
  })
})
