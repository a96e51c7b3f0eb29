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
  /** A publish accepted while its routes settled (Cluster.routesSettling) was refused once routed: the broker was stopping. */
  PublishRefused: 'FLUXMQ_ERR_PUBLISH_REFUSED',
} as const
export type BrokerErrorCode = (typeof BrokerErrorCode)[keyof typeof BrokerErrorCode]

/**
 * What every FluxMQ error is: a stable `code` (`FLUXMQ_ERR_*`, never reused) for programs, a
 * message for people, the error it wraps as `cause`, and the class's own name as `name`. Each
 * package extends it with its own code enum and class, so `instanceof` still tells them apart.
 */
export class FluxError<Code extends string = string> extends Error {
  override readonly name: string

  constructor(
    readonly code: Code,
    message: string,
    options: { readonly cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
  }
}

/** A typed core error: `code` is stable for programs, `reason` is the refusal a protocol adapter reports. */
export class BrokerError extends FluxError<BrokerErrorCode> {
  constructor(
    code: BrokerErrorCode,
    message: string,
    readonly reason: Refusal = Refusal.Refused,
  ) {
    super(code, `${code}: ${message}`)
  }
}
