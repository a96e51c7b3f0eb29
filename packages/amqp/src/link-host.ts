import type { BrokerCore, Logger, MemoryWaiter } from '@fluxmq/core'
import type { AmqpError } from './conditions.js'

/** What a link needs from the AMQP connection it belongs to. */
export interface LinkHost {
  readonly broker: BrokerCore
  readonly log: Logger
  readonly containerId: string
  readonly username: string | undefined
  readonly remoteAddress: string | undefined
  readonly maxMessageSize: number
  readonly window: number
  readonly creditWindow: number
  now(): number
  /** Writes an encoded frame to the connection's socket, in order with rhea's (a bound function). */
  readonly writeFrame: (frame: Buffer) => void
  /** Room below limits.max_write_buffer in the connection's socket. */
  writable(): boolean
  /**
   * After a publish: whether the process is above limits.max_buffered_bytes. When it is, the
   * server keeps the link and calls its `memoryAvailable` once it drained.
   */
  overMemory(link: MemoryWaiter): boolean
  linkClosed(link: AmqpLink): void
  /** The link was detached for an oversized message: the rest of its frames are discarded as they come. */
  oversizedMessage(link: OversizedMessage): void
}

/** A link detached for an oversized message, whose remaining frames are still arriving. */
export interface OversizedMessage {
  /** Drops what arrived since; false once the message is complete (nothing left to drop). */
  discardOversized(): boolean
}

/** Either direction of link, as the connection, the server's counts and the admin view see it. */
export interface AmqpLink {
  readonly direction: 'in' | 'out'
  readonly name: string
  readonly address: string
  /** The core session's client id (`<container-id>/<in|out>/<link-name>`); empty until attached. */
  readonly clientId: string
  /** The peer detached it, or its session or connection ended: the core session ends. */
  ended(): void
  /** The peer detached it: ended, and a held ATTACH goes out first so that rhea's DETACH answers in order. */
  peerDetached(): void
  /** We detach it with `error`. */
  detach(error: AmqpError): void
}
