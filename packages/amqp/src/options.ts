import type { Authenticator, BrokerCore, Clock, Logger } from '@fluxmq/core'

export interface AmqpServerOptions {
  readonly broker: BrokerCore
  readonly logger: Logger
  /** Wall-clock time for message timestamps and expiry; socket timers are real timers. */
  readonly clock: Clock
  /** Our container id in OPEN (the node id). */
  readonly containerId: string
  /** SASL PLAIN is checked against it; without one every PLAIN login is accepted. */
  readonly authenticator?: Authenticator
  /** auth.allow_anonymous: offers SASL ANONYMOUS and accepts clients that skip SASL. */
  readonly allowAnonymous: boolean
  /** broker.max_packet_size: the largest message (all its transfer frames) a sender may send, advertised as max-message-size. */
  readonly maxMessageSize: number
  /** Advertised max-frame-size; a larger frame closes the connection with amqp:connection:framing-error. Default 64 KiB. */
  readonly maxFrameSize?: number
  /** Advertised idle-time-out: a peer that sends nothing for twice this is closed. Default 60 s; 0 = none. */
  readonly idleTimeoutMs?: number
  /** A socket that has not completed SASL and OPEN by then is closed (limits.connect_timeout). */
  readonly connectTimeoutMs: number
  /**
   * Unsettled deliveries the core may have outstanding on one receiving link (broker.receive_maximum);
   * link credit bounds it further.
   */
  readonly window: number
  /** Credit each sending peer gets, given back as the broker absorbs its messages. Default 256. */
  readonly creditWindow?: number
  /** limits.max_write_buffer: beyond it a connection's links have no credit until its socket drains. */
  readonly maxWriteBuffer: number
  /** limits.write_stall_timeout: a connection whose socket accepts no byte for this long is closed; 0 = never. Default 30 s. */
  readonly writeStallTimeoutMs?: number
  /** limits.max_buffered_bytes: above it (queued deliveries + write buffers) no sender gets credit back; 0 = unbounded. */
  readonly maxBufferedBytes: number
  /**
   * What limits.max_buffered_bytes counts for the whole process (other fronts' write buffers
   * included). Default: the core's queued deliveries plus this server's write buffers.
   */
  readonly bufferedBytes?: () => number
}

export interface ListenOptions {
  readonly host: string
  readonly port: number
}

export interface TlsListenOptions extends ListenOptions {
  readonly cert: Buffer
  readonly key: Buffer
  readonly ca?: Buffer
  readonly clientAuth: 'none' | 'request' | 'require'
}

export const DEFAULT_MAX_FRAME_SIZE = 65_536
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000
export const DEFAULT_CREDIT_WINDOW = 256
export const DEFAULT_WRITE_STALL_TIMEOUT_MS = 30_000

/** Options with every default applied, as connections read them. */
export interface ResolvedOptions extends Required<Omit<AmqpServerOptions, 'authenticator' | 'bufferedBytes'>> {
  readonly authenticator: Authenticator | undefined
  readonly bufferedBytes: (() => number) | undefined
}

export function resolveOptions(options: AmqpServerOptions): ResolvedOptions {
  return {
    ...options,
    authenticator: options.authenticator,
    bufferedBytes: options.bufferedBytes,
    maxFrameSize: options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE,
    idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    creditWindow: options.creditWindow ?? DEFAULT_CREDIT_WINDOW,
    writeStallTimeoutMs: options.writeStallTimeoutMs ?? DEFAULT_WRITE_STALL_TIMEOUT_MS,
  }
}
