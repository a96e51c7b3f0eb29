import { Refusal } from './refusal.js'

/** Stable error codes of the core; a code is never reused for a different meaning. */
export const BrokerErrorCode = {
  /** A BrokerCore method that needs loaded state was called before start() resolved. */
  NotStarted: 'FLUXMQ_ERR_NOT_STARTED',
  /** start() was called twice. */
  AlreadyStarted: 'FLUXMQ_ERR_ALREADY_STARTED',
  /** A Storage was used before open() or after close(). */
  StorageClosed: 'FLUXMQ_ERR_STORAGE_CLOSED',
  /** BrokerOptions hold a value the core cannot work with. */
  InvalidOption: 'FLUXMQ_ERR_INVALID_OPTION',
  /** A claim, transferred state or surrender request carries an ownership epoch older than the one this node holds. */
  StaleEpoch: 'FLUXMQ_ERR_STALE_EPOCH',
  /** A queue subscription the core refuses: `ack-mode` not auto|manual, a routing-key filter other than `#`. */
  QueueSubscription: 'FLUXMQ_ERR_QUEUE_SUBSCRIPTION',
  /** A `$ack`/`$nack`/`$reject` publish without `message-id`, or naming a message of another queue. */
  QueueSettlement: 'FLUXMQ_ERR_QUEUE_SETTLEMENT',
} as const
export type BrokerErrorCode = (typeof BrokerErrorCode)[keyof typeof BrokerErrorCode]

/** A typed core error: `code` is stable for programs, `reason` is the refusal a protocol adapter reports. */
export class BrokerError extends Error {
  override readonly name = 'BrokerError'

  constructor(
    readonly code: BrokerErrorCode,
    message: string,
    readonly reason: Refusal = Refusal.Refused,
  ) {
    super(`${code}: ${message}`)
  }
}
