import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import type { ReasonCode } from '@fluxmq/core'

/** What a listener hands each accepted byte stream to (the MqttServer). */
export interface StreamAcceptor {
  accept(stream: Duplex, remoteAddress: string | undefined, refusal: ReasonCode | undefined): void
}

export interface Listener {
  readonly address: AddressInfo
  /** Stops accepting; open connections are the server's to close. */
  close(): Promise<void>
}
