// The holder's end of PayloadService.FetchPayload: the message without its payload first, then
// the payload in chunks, so a large retained message or will never needs one huge frame.
import type { MessageInitShape } from '@bufbuild/protobuf'
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect'
import { toWireMessage } from './convert.js'
import { PayloadKind as WirePayloadKind, type FetchPayloadRequest, type FetchPayloadResponseSchema, type PayloadService } from './gen/fluxmq/cluster/v1/payload_pb.js'
import type { InboundHandlers, PayloadKind } from './handlers.js'
import { refusal } from './remote-error.js'

export interface PayloadServiceOptions {
  readonly handlers: InboundHandlers
  readonly chunkBytes: number
}

export function payloadKindOf(kind: WirePayloadKind): PayloadKind | undefined {
  if (kind === WirePayloadKind.RETAINED) return 'retained'
  if (kind === WirePayloadKind.WILL) return 'will'
  return undefined
}

const EMPTY = Buffer.alloc(0)

export function payloadService(options: PayloadServiceOptions): ServiceImpl<typeof PayloadService> {
  const { handlers, chunkBytes } = options

  async function* fetchPayload(request: FetchPayloadRequest): AsyncIterable<MessageInitShape<typeof FetchPayloadResponseSchema>> {
    const kind = payloadKindOf(request.kind)
    if (kind === undefined) throw new ConnectError(`unknown payload kind ${request.kind}`, Code.InvalidArgument)
    let message
    try {
      message = await handlers.fetchPayload({ kind, key: request.key })
    } catch (error) {
      throw refusal(error)
    }
    if (message === undefined) throw new ConnectError(`no ${kind} payload for ${request.key} here`, Code.NotFound)
    const { payload } = message
    yield {
      kind: { case: 'header', value: { message: toWireMessage({ ...message, payload: EMPTY }), payloadSize: BigInt(payload.length) } },
    }
    for (let offset = 0; offset < payload.length; offset += chunkBytes) {
      yield { kind: { case: 'chunk', value: payload.subarray(offset, offset + chunkBytes) } }
    }
  }

  return { fetchPayload }
}
