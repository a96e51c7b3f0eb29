import type { Cleanup } from '@fluxmq/testing'
import type { Message } from '@fluxmq/core'
import type { InboundBatch, InboundHandlers } from '../handlers.js'
import { Peer, type PeerOptions } from '../peer.js'
import { TransportServer, type TransportServerOptions } from '../server.js'

/** A published message as the core would forward it. */
export function message(topic: string, payload: string | Buffer = 'x', over: Partial<Message> = {}): Message {
  return {
    topic,
    payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
    qos: 1,
    retain: false,
    properties: {},
    publishedAt: 1_700_000_000_000,
    publisherId: 'pub',
    ...over,
  }
}

/** A message with every field and property set (non-ASCII text, a repeated user property key): what the wire must carry intact. */
export const fullMessage: Message = {
  topic: 'a/ü/b',
  payload: Buffer.from([0, 1, 2, 255]),
  qos: 2,
  retain: true,
  properties: {
    payloadFormatIndicator: false,
    contentType: 'text/plain',
    responseTopic: 'r/1',
    correlationData: Buffer.from('corr'),
    userProperties: [
      ['k', 'v1'],
      ['k', 'v2'],
    ],
  },
  expiresAt: 1_800_000_000_123,
  publishedAt: 1_800_000_000_000,
  publisherId: 'pub-é',
}

/** Handlers that keep every forwarded batch and refuse the rest; tests override what they use. */
export function recordingHandlers(over: Partial<InboundHandlers> = {}): InboundHandlers & { readonly batches: InboundBatch[] } {
  const batches: InboundBatch[] = []
  return {
    batches,
    publishBatch: (batch) => {
      batches.push(batch)
    },
    takeOver: () => Promise.resolve(undefined),
    fetchPayload: () => undefined,
    ...over,
  }
}

/** A transport server on a free loopback port, closed by `cleanup`. */
export async function startServer(
  cleanup: Cleanup,
  options: Omit<TransportServerOptions, 'port' | 'host'> & { port?: number },
): Promise<{ server: TransportServer; port: number }> {
  const server = new TransportServer({ host: '127.0.0.1', ...options, port: options.port ?? 0 })
  const { port } = await server.listen()
  cleanup.defer(() => server.close())
  return { server, port }
}

/** A Peer from node `a` to `peerNode` at 127.0.0.1:`port`, closed by `cleanup`. */
export function connectPeer(cleanup: Cleanup, port: number, options: Partial<PeerOptions> = {}): Peer {
  const peer = new Peer({ localNode: 'a', peerNode: 'b', address: `127.0.0.1:${port}`, ...options })
  cleanup.defer(() => peer.close())
  return peer
}
