import type { Socket } from 'node:net'
import type { Delivery as AmqpDelivery, Message as AmqpMessage, Connection as RheaConnection, Container, EventContext, Receiver, Sender } from 'rhea'
import type { BrokerCore, Logger, MemoryWaiter } from '@fluxmq/core'
import { isAddressError, sourceAddress, targetAddress } from './address.js'
import { Condition } from './conditions.js'
import { readTransfersDirectly, receiveDirectly } from './direct-receive.js'
import type { AmqpTransportInternals, SessionWithTransfers } from './direct-receive.js'
import { settleDirectly } from './direct-transfer.js'
import type { SessionWithDispositions } from './direct-transfer.js'
import type { AmqpError } from './conditions.js'
import type { Outcome } from './core-link.js'
import { AmqpErrorCode } from './errors.js'
import { FrameScanner, GuardedSocket } from './frame-guard.js'
import { readFramesChecked } from './frame-reader.js'
import type { TransportInternals } from './frame-reader.js'
import { IncomingLink } from './incoming-link.js'
import type { AmqpLink, LinkHost, OversizedMessage } from './link-host.js'
import { OutgoingLink } from './outgoing-link.js'
import { saslMechanisms } from './sasl.js'
import type { ResolvedOptions } from './options.js'

/** What a connection needs from the server that owns it. */
export interface ConnectionHost {
  readonly options: ResolvedOptions
  readonly container: Container
  overMemory(waiter: MemoryWaiter): boolean
  linkOpened(link: AmqpLink): void
  linkClosed(link: AmqpLink): void
  connectionClosed(connection: AmqpConnection): void
}

/** [AMQP 5.3.1] The protocol id of the SASL layer's header. */
const SASL_PROTOCOL_ID = 3

/** How long a closing socket may take to flush its CLOSE before it is destroyed. */
const LINGER_MS = 1000

/** rhea's endpoint state of a link, absent from its typings. */
interface LinkState {
  local_open: boolean
  open_requests: number
}

/**
 * rhea answers a peer's ATTACH on its next tick; ours waits until the broker has decided (the
 * core session claimed, the subscription authorized), so a refused link is never seen attached
 * with credit. The link's `open()` sends it later; `close(error)` after `open()` refuses it.
 */
function holdAttach(link: Sender | Receiver): void {
  const state = (link as unknown as { state: LinkState }).state
  state.local_open = false
  state.open_requests--
}

/** The parts of a rhea session that `keyLinksByRole` replaces, absent from its typings. */
interface SessionInternals {
  links: Record<string, Sender | Receiver>
  remote: { handles: Record<number, unknown> }
  local: { handles: Record<number, unknown> }
  create_sender(name: string): Sender
  create_receiver(name: string): Receiver
  on_attach(frame: { performative: { name: string; role: boolean; handle: number } }): void
  remove_link(link: Sender | Receiver): void
}

const linkKey = (name: string, weSend: boolean): string => `${weSend ? 'out' : 'in'}:${name}`

/**
 * [AMQP 2.6.1] A link name is unique per direction, so a peer may attach a sender and a receiver
 * of the same name (qpid-proton's BlockingConnection names both after the address); rhea keys a
 * session's links by name alone and would take the second ATTACH for a repeated one. This
 * session keys them by name and direction.
 */
function keyLinksByRole(session: SessionInternals): void {
  session.on_attach = function (frame) {
    const { name, role, handle } = frame.performative
    // role true: the peer is the receiver, we send.
    const key = linkKey(name, role)
    let link = this.links[key]
    if (link === undefined) {
      link = role ? this.create_sender(name) : this.create_receiver(name)
      delete this.links[name]
      this.links[key] = link
    }
    this.remote.handles[handle] = link
    ;(link as unknown as { on_attach(f: unknown): void }).on_attach(frame)
    ;(link as unknown as { remote: { attach: unknown } }).remote.attach = frame.performative
  }
  session.remove_link = function (link) {
    const handles = link as unknown as { remote: { handle: number }; local: { handle: number } }
    delete this.remote.handles[handles.remote.handle]
    delete this.local.handles[handles.local.handle]
    delete this.links[linkKey(link.name, link.is_sender())]
  }
}

/** rhea's SASL layer of a server connection: a SASL server, or one under protocol id 3 of a selective one (SASL optional). */
interface SaslLayerInternals {
  readonly transport?: TransportInternals
  readonly transports?: Readonly<Record<number, SaslLayerInternals>>
}

/** rhea internals this adapter relies on, absent from its typings. */
interface RheaConnectionInternals {
  readonly amqp_transport: AmqpTransportInternals
  readonly sasl_transport: SaslLayerInternals | undefined
  accept(socket: unknown): void
  _process(): void
  idle(): void
}

/** [AMQP 3.4] The outcome a disposition's state names, as the core's settlement vocabulary. */
function outcomeOf(event: string, remoteState: unknown): Outcome {
  if (event === 'rejected') return 'rejected'
  if (event === 'released') return 'released'
  if (event === 'modified') {
    const state = remoteState as { delivery_failed?: boolean } | undefined
    // modified(delivery-failed) counts as a failed delivery (nack); without it, as released.
    return state?.delivery_failed === true ? 'modified' : 'released'
  }
  return 'accepted'
}

function linkProperties(properties: unknown): readonly (readonly [string, string])[] {
  if (typeof properties !== 'object' || properties === null) return []
  return Object.entries(properties as Record<string, unknown>).map(([name, value]) => [name, String(value)] as const)
}

/**
 * One AMQP connection: SASL (against the Authenticator), OPEN, its sessions and links. Each link
 * has its own session in the core; the connection owns the socket, so it answers for the write
 * buffer (credit) and for framing and protocol errors, which close it with an AMQP condition.
 * Nothing it does reaches another connection.
 */
export class AmqpConnection implements LinkHost {
  containerId = ''
  username: string | undefined
  log: Logger
  private readonly rhea: RheaConnection
  /** The socket as rhea writes to it (corked per tick). */
  private readonly wire: GuardedSocket
  private readonly links = new Map<unknown, IncomingLink | OutgoingLink>()
  private readonly oversized = new Set<OversizedMessage>()
  private connectTimer: NodeJS.Timeout | undefined
  /** Idle watch: when the peer last sent a byte, and the timer that looks at it. */
  private inputAt = performance.now()
  private idleTimer: NodeJS.Timeout | undefined
  private closing = false
  /** Write-stall watch: bytes the socket had written at the last sweep, and when that last moved. */
  private progressBytes = 0
  private progressAt = Date.now()
  private closed = false

  constructor(
    private readonly socket: Socket,
    private readonly host: ConnectionHost,
  ) {
    const options = host.options
    this.log = options.logger.child({ remote: this.remoteAddress })
    // A container per connection (sharing the server's through its prototype) gives SASL a
    // closure over this connection: the login sets its user name.
    const container = Object.create(host.container) as Container & { sasl_server_mechanisms: unknown }
    container.sasl_server_mechanisms = saslMechanisms(this, options)
    this.rhea = container.create_connection({
      id: `amqp-${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`,
      container_id: options.containerId,
      max_frame_size: options.maxFrameSize,
      idle_time_out: options.idleTimeoutMs,
      // Credit and settlement are the broker's: rhea neither grants credit nor accepts on its own.
      credit_window: 0,
      autoaccept: false,
      autosettle: true,
      treat_modified_as_released: false,
      reconnect: false,
    } as never)
    this.listen()
    const guarded = (this.wire = new GuardedSocket(
      socket,
      new FrameScanner(options.maxFrameSize),
      (problem) => this.failed(Condition.FramingError, problem, AmqpErrorCode.Framing),
      () => {
        this.inputAt = performance.now()
        this.checkMessageSizes()
      },
    ))
    const internals = this.rhea as unknown as RheaConnectionInternals
    // rhea re-arms its idle timer only after a read that completes a frame, so a peer that stops
    // inside a frame was never closed: our own watch, where every byte counts, replaces it.
    internals.idle = () => {}
    internals.accept(guarded)
    readTransfersDirectly(internals.amqp_transport)
    // rhea decodes SASL frames with the same generic decoder as AMQP ones.
    const sasl = internals.sasl_transport
    const saslFrames = (sasl?.transports?.[SASL_PROTOCOL_ID] ?? sasl)?.transport
    if (saslFrames !== undefined) readFramesChecked(saslFrames)
    this.watchIdle(2 * options.idleTimeoutMs)
    socket.on('drain', () => this.drained())
    socket.on('close', () => this.socketClosed())
    if (options.connectTimeoutMs > 0) {
      this.connectTimer = setTimeout(() => {
        this.log.info({ timeoutMs: options.connectTimeoutMs }, 'no AMQP OPEN before the connect timeout, closing')
        socket.destroy()
      }, options.connectTimeoutMs)
    }
  }

  get broker(): BrokerCore {
    return this.host.options.broker
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress
  }

  get maxMessageSize(): number {
    return this.host.options.maxMessageSize
  }

  get window(): number {
    return this.host.options.window
  }

  get creditWindow(): number {
    return this.host.options.creditWindow
  }

  get bufferedBytes(): number {
    return this.socket.writableLength
  }

  /** The links, for the admin view. */
  get allLinks(): Iterable<AmqpLink> {
    return this.links.values()
  }

  now(): number {
    return this.host.options.clock.now()
  }

  readonly writeFrame = (frame: Buffer): void => {
    this.wire.write(frame)
  }

  writable(): boolean {
    return this.socket.writableLength < this.host.options.maxWriteBuffer
  }

  overMemory(waiter: MemoryWaiter): boolean {
    return this.host.overMemory(waiter)
  }

  linkClosed(link: AmqpLink): void {
    for (const [key, value] of this.links) {
      if (value === link) {
        this.links.delete(key)
        this.host.linkClosed(link)
        return
      }
    }
  }

  /**
   * Whether the socket has accepted no byte for `stallMs` while holding unsent ones; then it is
   * destroyed (a CLOSE could not get through either).
   */
  stalled(now: number, stallMs: number): boolean {
    const socket = this.socket
    if (socket.writableLength === 0 || socket.bytesWritten !== this.progressBytes) {
      this.progressBytes = socket.bytesWritten
      this.progressAt = now
      return false
    }
    const stalledMs = now - this.progressAt
    if (stalledMs < stallMs) return false
    this.log.warn({ buffered: socket.writableLength, stalledMs }, 'AMQP peer accepts no bytes, disconnecting')
    socket.destroy()
    return true
  }

  /** The server closes this connection (shutdown): CLOSE with amqp:connection:forced. */
  terminate(description: string): void {
    this.close({ condition: Condition.ConnectionForced, description })
  }

  /**
   * [AMQP 2.4.5] A peer that sends nothing for twice our advertised idle-time-out is closed with
   * amqp:resource-limit-exceeded. Armed from accept, so it also bounds a peer that stops inside the
   * protocol header, SASL or OPEN (where the connect timeout is off or longer).
   */
  private watchIdle(limitMs: number): void {
    if (limitMs <= 0) return
    // One timer per period, not per read: it looks at when the last byte came when it fires.
    const check = (): void => {
      const quietMs = performance.now() - this.inputAt
      if (quietMs < limitMs) {
        this.idleTimer = setTimeout(check, limitMs - quietMs)
        return
      }
      this.log.info({ quietMs: Math.round(quietMs), limitMs }, 'AMQP peer idle beyond twice the idle time-out, closing')
      this.close({ condition: Condition.ResourceLimitExceeded, description: 'max idle time exceeded' })
    }
    this.idleTimer = setTimeout(check, limitMs)
  }

  private listen(): void {
    const c = this.rhea
    c.on('session_open', (context: EventContext) => {
      keyLinksByRole(context.session as unknown as SessionInternals)
      receiveDirectly(context.session as unknown as SessionWithTransfers, this.received)
      settleDirectly(context.session as unknown as SessionWithDispositions, (sender, delivery, event) => {
        const link = this.links.get(sender)
        if (link instanceof OutgoingLink) link.onOutcome(delivery as unknown as AmqpDelivery, outcomeOf(event, delivery.remote_state))
      })
    })
    c.on('connection_open', () => {
      clearTimeout(this.connectTimer)
      this.containerId = String(c.container_id ?? '')
      this.log = this.log.child({ container: this.containerId })
      this.log.info({ username: this.username }, 'AMQP connection open')
    })
    c.on('receiver_open', (context: EventContext) => this.peerSenderAttached(context.receiver as Receiver))
    c.on('sender_open', (context: EventContext) => this.peerReceiverAttached(context.sender as Sender))
    c.on('message', (context: EventContext) => {
      if (context.receiver !== undefined && context.message !== undefined && context.delivery !== undefined) this.received(context.receiver, context.message, context.delivery)
    })
    for (const event of ['accepted', 'released', 'rejected', 'modified', 'settled']) {
      c.on(event, (context: EventContext) => {
        const link = this.links.get(context.sender)
        if (link instanceof OutgoingLink && context.delivery !== undefined) link.onOutcome(context.delivery, outcomeOf(event, context.delivery.remote_state))
      })
    }
    c.on('sendable', (context: EventContext) => (this.links.get(context.sender) as OutgoingLink | undefined)?.creditMayBeBack())
    c.on('sender_draining', (context: EventContext) => (this.links.get(context.sender) as OutgoingLink | undefined)?.drain())
    const linkGone = (context: EventContext): void => this.links.get(context.receiver ?? context.sender)?.peerDetached()
    c.on('receiver_close', linkGone)
    c.on('sender_close', linkGone)
    const sessionGone = (context: EventContext): void => {
      for (const [key, link] of [...this.links]) if ((key as Sender | Receiver).session === context.session) link.ended()
    }
    c.on('session_close', sessionGone)
    c.on('connection_close', () => this.endLinks())
    c.on('disconnected', () => this.endLinks())
    c.on('protocol_error', (err: Error) => this.failed(Condition.FramingError, err.message, AmqpErrorCode.Framing))
    // rhea throws plain errors for undecodable or out-of-sequence input; they end this connection only.
    c.on('error', (err: Error) => this.failed(Condition.DecodeError, err.message, AmqpErrorCode.Protocol))
  }

  /** A message from a peer sender, through rhea's events or `receiveDirectly`. */
  private readonly received = (receiver: Receiver, message: AmqpMessage, delivery: AmqpDelivery): void => {
    const link = this.links.get(receiver)
    if (link instanceof IncomingLink) link.onMessage(message, delivery)
  }

  private peerSenderAttached(receiver: Receiver): void {
    const raw = receiver.target?.address as unknown
    let target
    if (raw === undefined || raw === null || raw === '') target = undefined
    else {
      target = targetAddress(String(raw))
      if (isAddressError(target)) return this.refuseAttach(receiver, target)
    }
    receiver.set_target((target === undefined ? {} : { address: target.name }) as never)
    receiver.set_source(receiver.source ?? {})
    ;(receiver as unknown as { local: { attach: { max_message_size: number } } }).local.attach.max_message_size = this.maxMessageSize
    holdAttach(receiver)
    const link = new IncomingLink(this, receiver, target)
    this.links.set(receiver, link)
    this.host.linkOpened(link)
    void link.open()
  }

  private peerReceiverAttached(sender: Sender): void {
    const raw = sender.source?.address as unknown
    const source = typeof raw === 'string' && raw !== '' ? sourceAddress(raw) : { condition: Condition.InvalidField, description: 'a receiver needs a source address' }
    if (isAddressError(source)) return this.refuseAttach(sender, source)
    sender.set_source({ address: source.name })
    sender.set_target(sender.target ?? {})
    const local = (sender as unknown as { local: { attach: { snd_settle_mode: number } } }).local.attach
    // We send as the receiver asked: pre-settled, unsettled or mixed.
    local.snd_settle_mode = sender.snd_settle_mode ?? 2
    holdAttach(sender)
    const link = new OutgoingLink(this, sender, source, linkProperties(sender.properties))
    this.links.set(sender, link)
    this.host.linkOpened(link)
    void link.open()
  }

  /** [AMQP 2.6.3] A refused attach: our ATTACH without source or target, then DETACH with the error. */
  private refuseAttach(link: Sender | Receiver, error: AmqpError): void {
    this.log.warn({ link: link.name, condition: error.condition, code: AmqpErrorCode.Address }, `AMQP link refused: ${error.description}`)
    link.close(error)
  }

  /** rhea assembles a multi-frame message without a bound: an incoming link answers for its own. */
  private checkMessageSizes(): void {
    for (const link of this.links.values()) if (link instanceof IncomingLink) link.checkMessageSize()
    for (const link of this.oversized) if (!link.discardOversized()) this.oversized.delete(link)
  }

  /** A link detached for an oversized message whose remaining frames are still arriving. */
  oversizedMessage(link: OversizedMessage): void {
    this.oversized.add(link)
  }

  private drained(): void {
    for (const link of this.links.values()) if (link instanceof OutgoingLink) link.creditMayBeBack()
  }

  /** A framing or protocol error: CLOSE with the condition (when OPEN was exchanged), then the socket goes. */
  private failed(condition: Condition, description: string, code: AmqpErrorCode): void {
    if (this.closed) return
    this.log.warn({ code, condition }, `AMQP connection failed: ${description}`)
    this.close({ condition, description })
  }

  private close(error: AmqpError): void {
    if (this.closing) return
    this.closing = true
    this.endLinks()
    if (this.rhea.is_remote_open()) {
      this.rhea.close(error)
      // Written now: rhea ends the socket right after a read error, before its next tick.
      ;(this.rhea as unknown as RheaConnectionInternals)._process()
      this.socket.end()
      setTimeout(() => this.socket.destroy(), LINGER_MS).unref()
    } else {
      this.socket.destroy()
    }
  }

  private endLinks(): void {
    for (const link of [...this.links.values()]) link.ended()
  }

  private socketClosed(): void {
    if (this.closed) return
    this.closed = true
    clearTimeout(this.connectTimer)
    clearTimeout(this.idleTimer)
    this.endLinks()
    // Only connections that got as far as OPEN were announced.
    if (this.containerId !== '') this.log.info({}, 'AMQP connection closed')
    this.host.connectionClosed(this)
  }
}
