import type { Authenticator, BrokerCore, Clock, Logger, QoS } from '@fluxmq/core'

export interface MqttServerOptions {
  readonly broker: BrokerCore
  readonly logger: Logger
  /** Wall-clock time for message timestamps and expiry; socket timers are real timers. */
  readonly clock: Clock
  /** Default: every client is accepted (subject to allowAnonymous). */
  readonly authenticator?: Authenticator
  /** auth.allow_anonymous: false refuses a CONNECT without user name (and without enhanced auth). */
  readonly allowAnonymous: boolean
  /** broker.max_packet_size: inbound limit in bytes, advertised in CONNACK. */
  readonly maxPacketSize: number
  readonly maxQos: QoS
  /** Advertised Receive Maximum: QoS 1/2 PUBLISHes a client may have unacknowledged towards us. */
  readonly receiveMaximum: number
  /** Advertised Topic Alias Maximum for client → server aliases; 0 disables them. */
  readonly topicAliasMaximum: number
  /** Seconds; 0 = use the client's Keep Alive. */
  readonly serverKeepAlive: number
  /** A socket that has not completed CONNECT (and its authentication) by then is closed. */
  readonly connectTimeoutMs: number
  /**
   * limits.max_write_buffer: a connection's write high-water mark in bytes. It is the
   * connection's credit: beyond it deliveries wait in the session's queue in the core.
   */
  readonly maxWriteBuffer: number
  /** limits.write_stall_timeout: a client whose socket accepts no byte for this long is disconnected; 0 = never. */
  readonly writeStallTimeoutMs: number
  /** limits.max_buffered_bytes: above it (queued deliveries + write buffers) publishers are not read; 0 = unbounded. */
  readonly maxBufferedBytes: number
  /** PUBLISH packets per client per second; 0 = unlimited. */
  readonly publishRate: number
  readonly retainAvailable?: boolean
  readonly wildcardAvailable?: boolean
  readonly sharedAvailable?: boolean
  readonly subscriptionIdsAvailable?: boolean
}

export interface ListenOptions {
  readonly host: string
  readonly port: number
  /** 0 or absent = unlimited. */
  readonly maxConnections?: number
  /** New connections per second on this listener; 0 or absent = unlimited. */
  readonly connectionRate?: number
}

export interface TlsListenOptions extends ListenOptions {
  readonly cert: Buffer
  readonly key: Buffer
  readonly ca?: Buffer
  readonly clientAuth: 'none' | 'request' | 'require'
}

export interface WebSocketListenOptions extends ListenOptions {
  readonly path: string
}

/** Options with every default applied, as connections read them. */
export interface ResolvedOptions extends Required<Omit<MqttServerOptions, 'authenticator'>> {
  readonly authenticator: Authenticator | undefined
}

export function resolveOptions(options: MqttServerOptions): ResolvedOptions {
  return {
    ...options,
    authenticator: options.authenticator,
    retainAvailable: options.retainAvailable ?? true,
    wildcardAvailable: options.wildcardAvailable ?? true,
    sharedAvailable: options.sharedAvailable ?? true,
    subscriptionIdsAvailable: options.subscriptionIdsAvailable ?? true,
  }
}
