// The previous owner's end of SessionService.TakeOver: the handler surrenders the session once per
// (client id, epoch); the state is streamed in chunks and remembered for a while, so a requester
// whose stream broke can ask again and get the same state instead of nothing.
import type { MessageInitShape } from '@bufbuild/protobuf'
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect'
import type { Logger, Message } from '@fluxmq/core'
import { toWireMessage, toWireSessionState } from './convert.js'
import type { SessionService, TakeOverRequest, TakeOverResponseSchema } from './gen/fluxmq/cluster/v1/session_pb.js'
import type { InboundHandlers, LostSession, SurrenderedSession } from './handlers.js'
import { refusal } from './remote-error.js'

export interface TakeoverServiceOptions {
  readonly handlers: InboundHandlers
  /** Bytes of offline messages per chunk (a larger message travels alone). */
  readonly chunkBytes: number
  /** How long a surrendered state is kept for a repeated request (ms). */
  readonly memoryMs: number
  readonly logger: Logger
}

interface Remembered {
  readonly result: Promise<SurrenderedSession | LostSession | undefined>
  readonly expiresAt: number
}

/** Offline messages in chunks of at most `chunkBytes` payload bytes, at least one message each. */
export function* chunks(messages: readonly Message[], chunkBytes: number): Generator<Message[]> {
  let chunk: Message[] = []
  let bytes = 0
  for (const message of messages) {
    if (chunk.length > 0 && bytes + message.payload.length > chunkBytes) {
      yield chunk
      chunk = []
      bytes = 0
    }
    chunk.push(message)
    bytes += message.payload.length
  }
  if (chunk.length > 0) yield chunk
}

export function takeoverService(options: TakeoverServiceOptions): ServiceImpl<typeof SessionService> {
  const { handlers, chunkBytes, memoryMs, logger } = options
  const remembered = new Map<string, Remembered>()

  const surrender = (request: TakeOverRequest): Promise<SurrenderedSession | LostSession | undefined> => {
    const now = Date.now()
    for (const [key, entry] of remembered) if (entry.expiresAt <= now) remembered.delete(key)
    const key = `${request.clientId}\u0000${request.epoch}`
    const known = remembered.get(key)
    if (known !== undefined) {
      logger.info({ clientId: request.clientId, peer: request.requesterNode, epoch: Number(request.epoch) }, 'takeover repeated, answered from memory')
      return known.result
    }
    const result = handlers.takeOver({ clientId: request.clientId, requesterNode: request.requesterNode, epoch: Number(request.epoch) })
    remembered.set(key, { result, expiresAt: now + memoryMs })
    // A refusal is not remembered: the next request asks the handler again.
    result.catch(() => remembered.delete(key))
    return result
  }

  async function* takeOver(request: TakeOverRequest): AsyncIterable<MessageInitShape<typeof TakeOverResponseSchema>> {
    let surrendered: SurrenderedSession | LostSession | undefined
    try {
      surrendered = await surrender(request)
    } catch (error) {
      throw refusal(error)
    }
    if (surrendered === undefined) throw new ConnectError(`no session of ${request.clientId} here`, Code.NotFound)
    if ('lost' in surrendered) {
      yield { kind: { case: 'lost', value: { routedUpTo: surrendered.routedUpTo } } }
      return
    }
    yield { kind: { case: 'state', value: toWireSessionState(surrendered.transferred, surrendered.epoch) } }
    for (const chunk of chunks(surrendered.transferred.offline, chunkBytes)) {
      yield { kind: { case: 'offline', value: { messages: chunk.map(toWireMessage) } } }
    }
  }

  return { takeOver }
}
