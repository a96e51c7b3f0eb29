import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import type { } from '@fluxmq/core'
import type { ReasonCode } from '@fluxmq/mqtt-codec'

/** What a listener hands each accepted byte stream to (the MqttServer). */
export interface StreamAcceptor {
  accept(stream: Duplex, remoteAddress: string | undefined, refusal: ReasonCode | undefined): void
}

/**
 * "address:port" of a socket's peer, for logs and the core. Joined rather than concatenated: V8
 * keeps `${a}:${b}` as a rope of three strings (64 bytes that every idle connection holds) and
 * `join` builds one flat string (32).
 */
export function remoteAddressOf(socket: { readonly remoteAddress?: string | undefined; readonly remotePort?: number | undefined }): string | undefined {
  return socket.remoteAddress === undefined ? undefined : [socket.remoteAddress, socket.remotePort].join(':')
}

export interface Listener {
  readonly address: AddressInfo
  /** Stops accepting; open connections are the server's to close. */
  close(): Promise<void>
}
