import type { Delivery } from '@fluxmq/core'
import type { link as RheaLink } from 'rhea'
import type { AmqpError } from './conditions.js'
import { CoreSession } from './core-link.js'
import type { LinkEnd } from './core-link.js'
import type { AmqpLink, LinkHost } from './link-host.js'

/**
 * What both directions of link share: a core session of its own, claimed on attach, and our
 * ATTACH held until the broker has decided, so that a refused link gets ATTACH then DETACH with
 * the condition and never credit. The subclass opens (claims, then subscribes or grants credit)
 * and carries the messages.
 */
export abstract class SessionLink implements AmqpLink, LinkEnd {
  abstract readonly direction: 'in' | 'out'
  abstract readonly address: string
  protected session: CoreSession | undefined
  protected closed = false
  /** Our ATTACH went out (it waits for the broker's decision). */
  private answered = false

  constructor(
    protected readonly host: LinkHost,
    private readonly link: RheaLink,
  ) {}

  get name(): string {
    return this.link.name
  }

  get clientId(): string {
    return this.session?.clientId ?? ''
  }

  abstract hasCredit(): boolean
  abstract deliver(delivery: Delivery): boolean

  /**
   * Claims the link's core session. Undefined when there is none to use: the broker refused it
   * (the link is detached with the condition) or the link ended while the claim was under way.
   */
  protected async claimSession(): Promise<CoreSession | undefined> {
    const host = this.host
    const session = await CoreSession.open(
      host.broker,
      { clientId: `${host.containerId}/${this.direction}/${this.name}`, username: host.username, remoteAddress: host.remoteAddress, window: host.window },
      this,
    )
    if (!(session instanceof CoreSession)) {
      this.detach(session)
      return undefined
    }
    if (this.closed) {
      session.close()
      return undefined
    }
    this.session = session
    return session
  }

  closeByCore(error: AmqpError): void {
    this.detach(error)
  }

  detach(error: AmqpError): void {
    if (this.closed) return
    // A link whose ATTACH is still held is refused: ATTACH, then DETACH with the error.
    this.answer()
    this.link.close(error)
    this.ended()
  }

  peerDetached(): void {
    if (!this.closed) this.answer()
    this.ended()
  }

  /** Sends our ATTACH, once. */
  protected answer(): void {
    if (this.answered) return
    this.answered = true
    this.link.open()
  }

  ended(): void {
    if (this.closed) return
    this.closed = true
    this.session?.close()
    this.host.linkClosed(this)
  }
}
