// The receiving end of ForwardService: one stream per sender, batches applied in order through
// the publishBatch handler at most once per idempotency key, acknowledged in order with credit.
import { create, type MessageInitShape } from '@bufbuild/protobuf'
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect'
import type { Logger } from '@fluxmq/core'
import { Channel } from './channel.js'
import { fromWireMessage } from './convert.js'
import { DedupTable, type BatchOutcome } from './dedup-window.js'
import { describeCause, fluxmqCode, TransportErrorCode } from './errors.js'
import {
  ForwardAckSchema,
  ForwardRejectionSchema,
  type ForwardAck,
  type ForwardBatch,
  type ForwardRequest,
  type ForwardResponseSchema,
  type ForwardService,
} from './gen/fluxmq/cluster/v1/forward_pb.js'
import type { InboundBatch, InboundHandlers } from './handlers.js'
import { unpackMessages } from './packed.js'

export interface ForwardReceiverOptions {
  readonly nodeId: string
  readonly handlers: InboundHandlers
  readonly logger: Logger
  /** Batches a sender may have unacknowledged on one stream. */
  readonly credit: number
}


function protocolError(message: string): ConnectError {
  return new ConnectError(message, Code.FailedPrecondition, { 'fluxmq-error-code': TransportErrorCode.Protocol })
}

/** A batch as the handler gets it, from the packed encoding or from protobuf messages. */
function decodeBatch(from: string, batch: ForwardBatch): InboundBatch {
  if (batch.packed.length > 0) {
    const { messages, routing } = unpackMessages(batch.packed)
    return routing === undefined ? { from, messages } : { from, messages, routing }
  }
  return { from, messages: batch.messages.map(fromWireMessage) }
}

export function forwardReceiver(options: ForwardReceiverOptions): ServiceImpl<typeof ForwardService> {
  const { nodeId, handlers, logger, credit } = options
  // Twice the credit: a resend on a new stream may overlap the tail of the broken one.
  const dedup = new DedupTable(credit * 2)

  async function* forward(requests: AsyncIterable<ForwardRequest>): AsyncIterable<MessageInitShape<typeof ForwardResponseSchema>> {
    const iterator = requests[Symbol.asyncIterator]()
    const first = await iterator.next()
    if (first.done === true || first.value.kind.case !== 'open') throw protocolError('a forward stream must start with ForwardOpen')
    const open = first.value.kind.value
    if (open.receiverNode !== nodeId) throw protocolError(`this is node ${nodeId}, not ${open.receiverNode}`)
    const sender = open.senderNode
    const window = dedup.window(sender, open.epoch)
    const log = logger.child({ peer: sender })
    yield { kind: { case: 'opened', value: { credit } } }

    // Reading and acknowledging run side by side: batches are handed to the handler as they
    // arrive, acknowledgements leave in order as their outcomes settle.
    // Boxed: an async generator awaits a promise it yields, which would hold the queue on the oldest batch.
    const acks = new Channel<{ readonly ack: Promise<ForwardAck> }>()
    let unacked = 0

    const apply = (batch: ForwardBatch, sequence: number): Promise<BatchOutcome> => {
      let inbound: InboundBatch
      try {
        inbound = decodeBatch(sender, batch)
      } catch (error) {
        return Promise.resolve({ code: TransportErrorCode.Protocol, message: describeCause(error) })
      }
      let result
      try {
        result = handlers.publishBatch(inbound)
      } catch (error) {
        result = Promise.reject(error)
      }
      return Promise.resolve(result).then(
        () => undefined,
        (error: unknown) => {
          log.warn({ sequence, err: describeCause(error) }, 'forwarded batch refused')
          return { code: fluxmqCode(error) ?? TransportErrorCode.Rejected, message: describeCause(error) }
        },
      )
    }

    const read = async (): Promise<void> => {
      for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) {
        if (next.value.kind.case !== 'batch') throw protocolError('ForwardOpen sent twice')
        const batch = next.value.kind.value
        const sequence = Number(batch.sequence)
        if (!Number.isSafeInteger(sequence) || sequence < 1) throw protocolError(`invalid sequence ${batch.sequence}`)
        if (++unacked > credit) throw protocolError(`more than ${credit} unacknowledged batches`)
        let outcome = window.lookup(sequence)
        if (outcome === 'unknown') {
          outcome = Promise.resolve({ code: TransportErrorCode.Protocol, message: `sequence ${sequence} is outside the dedup window` })
        } else if (outcome === 'new') {
          outcome = apply(batch, sequence)
          window.record(sequence, outcome)
        } else {
          log.debug({ sequence }, 'resent batch answered from the dedup window')
        }
        acks.push({
          ack: outcome.then((rejection) =>
            create(ForwardAckSchema, {
              sequence: batch.sequence,
              credit: 1,
              rejection: rejection === undefined ? undefined : create(ForwardRejectionSchema, rejection),
            }),
          ),
        })
      }
    }
    // A broken contract ends the stream at once, even while an earlier batch is still being applied.
    let broken!: (error: unknown) => void
    const brokenStream = new Promise<never>((_, reject) => (broken = reject))
    brokenStream.catch(() => undefined)
    read().then(
      () => acks.end(),
      (error: unknown) => {
        acks.fail(error)
        broken(error)
      },
    )
    for await (const { ack } of acks) {
      const value = await Promise.race([ack, brokenStream])
      unacked -= 1
      yield { kind: { case: 'ack', value } }
    }
  }

  return { forward }
}
