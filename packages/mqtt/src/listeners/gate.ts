import type { Clock, Logger } from '@fluxmq/core'
import type { ReasonCode } from '@fluxmq/mqtt-codec'
import { ReasonCode as Reason } from '@fluxmq/mqtt-codec'
import { RateLimiter } from '../rate-limiter.js'

/**
 * Admission for one listener. Over maxConnections a socket is closed at once (nothing is spent
 * on it); over connectionRate it is accepted but its CONNECT is answered with 0x9F (3.1.1: 0x03)
 * so the client learns why and backs off.
 */
export class AdmissionGate {
  private readonly rate: RateLimiter
  private open = 0

  constructor(
    private readonly maxConnections: number,
    connectionRate: number,
    clock: Clock,
    private readonly logger: Logger,
  ) {
    this.rate = new RateLimiter(connectionRate, clock)
  }

  /** 'reject' = close now; a reason code = accept and refuse the CONNECT; undefined = accept. */
  admit(remote: string | undefined): 'reject' | ReasonCode | undefined {
    if (this.maxConnections > 0 && this.open >= this.maxConnections) {
      this.logger.warn({ remote, maxConnections: this.maxConnections }, 'connection limit reached, socket closed')
      return 'reject'
    }
    if (!this.rate.take()) {
      this.logger.warn({ remote }, 'connection rate exceeded')
      return Reason.ConnectionRateExceeded
    }
    return undefined
  }

  /**
   * Counts an admitted socket until it closes, when there is a limit to count against: without
   * one (the default) the socket carries no listener of ours for it (a second 'close' listener
   * costs an idle connection an array).
   */
  opened(socket: { on(event: 'close', listener: () => void): unknown }): void {
    if (this.maxConnections === 0) return
    this.open += 1
    socket.on('close', this.onSocketClosed)
  }

  /** One listener shared by every socket of the listener (a closure per socket is memory an idle connection keeps). */
  private readonly onSocketClosed = (): void => {
    this.open -= 1
  }
}
