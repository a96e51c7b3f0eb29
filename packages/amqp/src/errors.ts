import { FluxError } from '@fluxmq/core'

/**
 * Stable error codes of the AMQP adapter, in its log lines and thrown errors. Never reused: a code
 * that goes away stays reserved.
 */
export const AmqpErrorCode = {
  /** A listener could not be started (address in use, bad certificate). */
  ListenerFailed: 'FLUXMQ_ERR_AMQP_LISTEN',
  /** A frame larger than the advertised max-frame-size, smaller than a frame header, or bytes rhea cannot decode. */
  Framing: 'FLUXMQ_ERR_AMQP_FRAMING',
  /** The peer broke the protocol (a transfer without credit, frames out of sequence). */
  Protocol: 'FLUXMQ_ERR_AMQP_PROTOCOL',
  /** A link address this adapter does not serve (empty, not a topic or filter, an unknown `$` form). */
  Address: 'FLUXMQ_ERR_AMQP_ADDRESS',
  /** SASL authentication refused. */
  Login: 'FLUXMQ_ERR_AMQP_LOGIN',
} as const
export type AmqpErrorCode = (typeof AmqpErrorCode)[keyof typeof AmqpErrorCode]

export class AmqpListenError extends FluxError<typeof AmqpErrorCode.ListenerFailed> {
  constructor(message: string, options?: { cause?: unknown }) {
    super(AmqpErrorCode.ListenerFailed, message, options)
  }
}
