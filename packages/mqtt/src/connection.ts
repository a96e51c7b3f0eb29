import type { Duplex } from 'node:stream'
import { ReasonCode } from '@fluxmq/mqtt-codec'
import type { BrokerCore, Logger, SessionHandle } from '@fluxmq/core'
import { CodecError, MqttParser, encode } from '@fluxmq/mqtt-codec'
import type { Packet, ProtocolVersion } from '@fluxmq/mqtt-codec'
import { MqttProtocolError, protocolError } from './errors.js'
import type { AuthExchange } from './handlers/auth.js'
import { handleAuth } from './handlers/auth.js'
import { connackRefusal, handleConnect } from './handlers/connect.js'
import { handleDisconnect } from './handlers/disconnect.js'
import { handlePingreq } from './handlers/pingreq.js'
import { handlePuback } from './handlers/puback.js'
import { handlePubcomp } from './handlers/pubcomp.js'
import { handlePublish } from './handlers/publish.js'
import { handlePubrec } from './handlers/pubrec.js'
import { handlePubrel } from './handlers/pubrel.js'
import { handleSubscribe } from './handlers/subscribe.js'
import { handleUnsubscribe } from './handlers/unsubscribe.js'
import type { LinkTarget } from './link.js'
import { MqttLink } from './link.js'
import type { ResolvedOptions } from './options.js'
import { RateLimiter } from './rate-limiter.js'
import { InboundTopicAliases, OutboundTopicAliases } from './topic-alias.js'
import { BoundLogger } from './bound-logger.js'
import { BatchedWriter } from './writer.js'
import type { FlushScheduler, StallWatch, WriterOwner } from './writer.js'

/**
 * awaiting-connect → authenticating (CONNECT parsed; authenticator and broker.connect running,
 * later packets held back) → connected (CONNACK sent) → closing (final bytes flushing) → closed.
 */
export type ConnectionState = 'awaiting-connect' | 'authenticating' | 'connected' | 'closing' | 'closed'

/** What a connection needs from the server that owns it. */
export interface ConnectionHost {
  readonly options: ResolvedOptions
  readonly scheduler: FlushScheduler
  readonly stalls: StallWatch
  connectionClosed(connection: Connection): void
  /** A connection was disconnected because its socket accepted nothing for limits.write_stall_timeout. */
  writeStalled(connection: Connection): void
  /**
   * After a publish: whether the process is above limits.max_buffered_bytes. When it is, the host
   * has taken the connection into its waiting list and calls `memoryAvailable` once it drained.
   */
  overMemory(connection: Connection): boolean
}

/** Why reading is paused; reading resumes when no reason is left. */
const PAUSED_FOR_AUTH = 1
const PAUSED_FOR_RATE = 2
const PAUSED_FOR_RECEIVE_MAXIMUM = 4
/** A connected subscriber's queue that this client feeds is full (PublishResult.backpressure). */
const PAUSED_FOR_BACKPRESSURE = 8
/** The process is above limits.max_buffered_bytes. */
const PAUSED_FOR_MEMORY = 16
/** Pauses that are the broker's doing, not the client's: keep alive does not run meanwhile, and PUBLISHes already read wait. */
const PAUSED_FOR_FLOW = PAUSED_FOR_BACKPRESSURE | PAUSED_FOR_MEMORY
/** How long a closing socket may take to flush its last bytes before it is destroyed. */
const LINGER_MS = 2000
/** [MQTT-2.2.2] Largest value a Maximum Packet Size can express; "no limit" in practice. */
const UNLIMITED_PACKET_SIZE = 268_435_460

/** One client connection: its parser, protocol state, timers, topic aliases and write batching. */
export class Connection implements LinkTarget, WriterOwner {
  state: ConnectionState = 'awaiting-connect'
  protocolVersion: ProtocolVersion = 4
  v5 = false
  clientId = ''
  username: string | undefined
  session: SessionHandle | undefined
  log: Logger
  readonly link: MqttLink = new MqttLink(this)
  /** Until an MQTT 5 CONNECT asks for aliases, the shared disabled table (it never changes). */
  outboundAliases = NO_OUTBOUND_ALIASES
  clientMaximumPacketSize = UNLIMITED_PACKET_SIZE
  /** QoS 1 PUBLISHes received and not yet PUBACKed (Receive Maximum accounting). */
  inboundQos1 = 0
  /** Session Expiry Interval the CONNECT asked for (MQTT 5). */
  connectSessionExpiry = 0
  /** Set by a DISCONNECT that changes the Session Expiry Interval. */
  disconnectSessionExpiry: number | undefined
  /** A DISCONNECT with reason 0x00 removes the will [MQTT-3.1.2-10]. */
  willSuppressed = false
  /** The CONNECT carried a will: only then does the disconnect line say whether it goes out. */
  hasWill = false
  /** The running AUTH exchange (CONNECT or re-authentication), if any. */
  auth: AuthExchange | undefined
  /** Authentication Method of the CONNECT; re-authentication must use the same one [MQTT-4.12.1-1]. */
  authMethod: string | undefined
  connackSent = false

  private readonly parser: MqttParser
  private readonly writer: BatchedWriter
  /** Only when limits.publish_rate is set. */
  private readonly publishLimiter: RateLimiter | undefined
  /** Packets held back during authentication or over the publish rate; created when the first one is. */
  private heldBack: Packet[] | undefined
  private aliasesIn: InboundTopicAliases | undefined
  private pausedFor = 0
  /** Backpressure promises this connection waits on. */
  private congestions = 0
  private connectTimer: NodeJS.Timeout | undefined
  private keepAliveTimer: NodeJS.Timeout | undefined
  private keepAliveMs = 0
  private throttleTimer: NodeJS.Timeout | undefined
  private detached = false
  private qos2Ids: Set<number> | undefined

  constructor(
    private readonly stream: Duplex,
    readonly remoteAddress: string | undefined,
    private readonly host: ConnectionHost,
    /** Set when the listener refuses this connection (connection rate): the CONNECT is answered with it. */
    readonly refusal: ReasonCode | undefined,
  ) {
    const options = host.options
    this.log = new BoundLogger(options.logger, { remote: remoteAddress })
    this.parser = new MqttParser({ maxPacketSize: options.maxPacketSize })
    this.writer = new BatchedWriter(stream, host.scheduler, options.maxWriteBuffer, this, host.stalls)
    this.publishLimiter = options.publishRate > 0 ? new RateLimiter(options.publishRate, options.clock) : undefined
    if (options.connectTimeoutMs > 0) this.connectTimer = setTimeout(connectTimedOut, options.connectTimeoutMs, this)
    // Shared listeners that find the connection through the stream, rather than four closures
    // per connection: an idle connection's memory is mostly what it allocates up front.
    ;(stream as OwnedStream)[CONNECTION] = this
    stream.on('data', onStreamData)
    stream.on('end', onStreamEnd)
    stream.on('error', onStreamError)
    stream.on('close', onStreamClose)
  }

  // Read through the host rather than kept per connection: every field is 8 bytes an idle connection holds.
  get options(): ResolvedOptions {
    return this.host.options
  }

  get broker(): BrokerCore {
    return this.host.options.broker
  }

  /** Topic aliases the client set; created by its first alias (most clients never send one). */
  get inboundAliases(): InboundTopicAliases {
    return (this.aliasesIn ??= new InboundTopicAliases(this.options.topicAliasMaximum))
  }

  /** Packet ids of QoS 2 PUBLISHes received and not yet PUBCOMPed; created on first use (most connections never see QoS 2). */
  get inboundQos2(): Set<number> {
    return (this.qos2Ids ??= new Set<number>())
  }

  get open(): boolean {
    return this.state !== 'closing' && this.state !== 'closed'
  }

  now(): number {
    return this.options.clock.now()
  }

  send(packet: Buffer): void {
    this.writer.write(packet)
  }

  /** The link's credit (ClientLink.hasCredit): room in the write buffer; always once closing. */
  hasCredit(): boolean {
    return !this.open || this.writer.hasRoom()
  }

  onWritable(): void {
    if (this.state === 'connected' && this.session !== undefined) this.broker.creditAvailable(this.session)
  }

  onWriteStall(buffered: number, stalledMs: number): void {
    if (this.state === 'closed') return
    this.log.warn({ buffered, stalledMs }, 'client accepts no bytes, disconnecting')
    this.host.writeStalled(this)
    this.state = 'closing'
    this.clearTimers()
    this.writer.discard()
    this.stream.destroy()
  }

  /**
   * After routing one of this client's publishes: a full subscriber queue (`backpressure`) or the
   * process-wide memory bound stops reading from it until they drain; its socket then fills and
   * TCP slows the client down.
   */
  afterPublish(backpressure: Promise<void> | undefined): void {
    if (backpressure !== undefined) {
      this.congestions++
      this.pause(PAUSED_FOR_BACKPRESSURE)
      void backpressure.then(() => {
        if (--this.congestions === 0) this.unpause(PAUSED_FOR_BACKPRESSURE)
      })
    }
    if ((this.pausedFor & PAUSED_FOR_MEMORY) === 0 && this.host.overMemory(this)) this.pause(PAUSED_FOR_MEMORY)
  }

  memoryAvailable(): void {
    this.unpause(PAUSED_FOR_MEMORY)
  }

  sendPacket(packet: Packet): void {
    this.writer.write(this.encodeForClient(packet))
  }

  /**
   * [MQTT-3.1.2-24] Nothing larger than the client's Maximum Packet Size goes out: a Reason String
   * that would make a packet too large is left out (§3.2.2.3.9, §3.14.2.2.3).
   */
  private encodeForClient(packet: Packet): Buffer {
    const encoded = encode(packet, this.protocolVersion)
    if (encoded.length <= this.clientMaximumPacketSize || packet.cmd === 'publish') return encoded
    const properties = (packet as { properties?: { reasonString?: string } }).properties
    if (properties?.reasonString === undefined) return encoded
    const { reasonString: _dropped, ...rest } = properties
    return encode({ ...packet, properties: rest } as Packet, this.protocolVersion)
  }

  /** CONNECT parsed: packets other than AUTH wait until the CONNACK. */
  beginAuthentication(): void {
    this.state = 'authenticating'
    this.pause(PAUSED_FOR_AUTH)
  }

  /**
   * We sent AUTH 0x18 and wait for the client's answer: read again. A client that sends anything
   * else first is paused again (and, if it never sends the AUTH, refused at the connect timeout).
   */
  awaitClientAuth(): void {
    if (this.heldBack === undefined || this.heldBack.length === 0) this.unpause(PAUSED_FOR_AUTH)
  }

  /** CONNACK (success) is queued: the session is live, keep-alive starts. */
  connected(session: SessionHandle, keepAliveSeconds: number): void {
    this.state = 'connected'
    this.session = session
    clearTimeout(this.connectTimer)
    this.connectTimer = undefined
    // [MQTT-3.1.2-24] (3.1.1) [MQTT-3.1.2-22] (5.0) 1.5 × Keep Alive without any packet closes the connection; 0 disables it.
    this.keepAliveMs = keepAliveSeconds * 1500
    if (keepAliveSeconds > 0) this.keepAliveTimer = setTimeout(keepAliveTimedOut, this.keepAliveMs, this)
  }

  /**
   * Runs the packets held back (during authentication, or over the publish rate) in order, until
   * the publish rate stops it again; reading resumes once nothing is held back.
   */
  runHeldBack(): void {
    this.unpause(PAUSED_FOR_AUTH | PAUSED_FOR_RATE)
  }

  /** Runs what was held back while it is admitted; reading resumes once nothing is. */
  private runHeld(): void {
    const held = this.heldBack
    if (held === undefined) return
    while (held.length > 0 && this.state === 'connected') {
      if (!this.admit(held[0]!)) return
      this.runGuarded(held.shift()!)
    }
    if (held.length === 0) this.heldBack = undefined
  }

  /** The core ends the connection (session taken over 0x8E, shutdown, admin action). */
  closeByServer(reason: ReasonCode, reasonString?: string): void {
    if (!this.open) return
    this.log.info({ reasonCode: reason, reason: reasonString }, 'closing connection')
    this.terminate(reason, reasonString)
  }

  /**
   * Refuses the CONNECT: MQTT 5 gets a CONNACK with the reason code, 3.1.1 the mapped return code
   * when there is one [MQTT-3.2.2-6], then the connection closes.
   */
  refuse(reason: ReasonCode, reasonString?: string): void {
    if (!this.open) return
    this.log.info({ reasonCode: reason, reason: reasonString }, 'connect refused')
    this.sendRefusal(reason, reasonString)
  }

  private sendRefusal(reason: ReasonCode, reasonString: string | undefined): void {
    const connack = connackRefusal(this.protocolVersion, reason, reasonString)
    this.connackSent = connack !== undefined
    this.end(connack === undefined ? undefined : this.encodeForClient(connack))
  }

  /**
   * Closes from our side. After CONNACK an MQTT 5 client gets DISCONNECT with the reason code
   * (and reason string), never before it [MQTT-3.14.0-1]: then it gets a refusing CONNACK; 3.1.1 is just closed.
   */
  terminate(reason: ReasonCode, reasonString?: string, serverReference?: string): void {
    if (!this.open) return
    if (!this.connackSent && this.state === 'authenticating') {
      this.sendRefusal(reason, reasonString)
      return
    }
    let last: Buffer | undefined
    if (this.canBeRedirected) {
      const properties = { ...(reasonString === undefined ? {} : { reasonString }), ...(serverReference === undefined ? {} : { serverReference }) }
      last = this.encodeForClient({ cmd: 'disconnect', reasonCode: reason, ...(Object.keys(properties).length === 0 ? {} : { properties }) })
    }
    this.end(last)
  }

  /** Whether a DISCONNECT from the server reaches this client (MQTT 5, after CONNACK), and with it a Server Reference. */
  get canBeRedirected(): boolean {
    return this.open && this.v5 && this.connackSent
  }

  /** A DISCONNECT from the client: no answer [MQTT-3.14.4-1], just close. */
  endByClient(): void {
    this.end(undefined)
  }

  private end(last: Buffer | undefined): void {
    this.state = 'closing'
    this.clearTimers()
    this.writer.end(last, LINGER_MS)
    // Deferred: the core may be the caller (takeover), and it must not be re-entered.
    process.nextTick(detachLater, this)
  }

  private fail(reason: ReasonCode, message: string, code: string): void {
    if (!this.open) return
    this.log.warn({ reason: message, reasonCode: reason, code }, 'invalid input, closing connection')
    this.terminate(reason, message)
  }

  // onData, onEnd, onError, onClose, the on…Timeout/onThrottleEnd handlers and detach are run by
  // the shared listeners at the end of this file, so they cannot be private.
  onData(chunk: Buffer): void {
    this.host.scheduler.countReceived(chunk.length)
    if (!this.open) return
    try {
      this.parser.push(chunk, this.onPacket, this)
    } catch (err) {
      this.onPacketError(err)
    }
    this.host.scheduler.flushRead()
  }

  /** Called by the parser with this connection as `this` (a method, not a closure per connection). */
  private onPacket(packet: Packet): void {
    if (!this.open) return
    this.keepAliveTimer?.refresh()
    switch (this.state) {
      case 'awaiting-connect':
        // [MQTT-3.1.0-1] the first packet must be CONNECT (the parser enforces it too).
        if (packet.cmd !== 'connect') throw protocolError(`first packet is ${packet.cmd}, not CONNECT`)
        handleConnect(this, packet)
        return
      case 'authenticating':
        if (packet.cmd === 'auth') handleAuth(this, packet)
        // [MQTT-3.1.0-2] a second CONNECT is a protocol error.
        else if (packet.cmd === 'connect') throw protocolError('second CONNECT')
        // Clients need not wait for CONNACK; what they send is held back and dropped if the CONNECT
        // is refused [MQTT-3.1.4-6]. Reading pauses so that it stays bounded.
        else {
          ;(this.heldBack ??= []).push(packet)
          this.pause(PAUSED_FOR_AUTH)
        }
        return
      default:
        // Order is kept: once something is held back, everything after it waits its turn, except
        // acknowledgements and pings. Those answer packets the broker already handled, and a
        // client slowed down for a full queue may be the subscriber whose PUBACKs drain it.
        if (((this.heldBack !== undefined && this.heldBack.length > 0) || !this.admit(packet)) && !ANSWERS.has(packet.cmd)) (this.heldBack ??= []).push(packet)
        else this.dispatch(packet)
    }
  }

  /**
   * limits.publish_rate: over the rate, a PUBLISH is held back and reading pauses until the token
   * bucket refills (the client is slowed down, not disconnected).
   */
  private admit(packet: Packet): boolean {
    if (this.throttleTimer !== undefined) return false
    if (packet.cmd !== 'publish') return true
    // Publishes read in the same chunk as the one that filled a queue wait with the socket.
    if ((this.pausedFor & PAUSED_FOR_FLOW) !== 0) return false
    const limiter = this.publishLimiter
    if (limiter === undefined || limiter.take()) return true
    this.pause(PAUSED_FOR_RATE)
    this.throttleTimer = setTimeout(throttleEnded, limiter.waitMs(), this)
    return false
  }

  onThrottleEnd(): void {
    this.throttleTimer = undefined
    this.runHeldBack()
  }

  private runGuarded(packet: Packet): void {
    try {
      this.dispatch(packet)
    } catch (err) {
      this.onPacketError(err)
    }
  }

  private dispatch(packet: Packet): void {
    switch (packet.cmd) {
      case 'publish':
        return handlePublish(this, packet)
      case 'puback':
        return handlePuback(this, packet)
      case 'pubrec':
        return handlePubrec(this, packet)
      case 'pubrel':
        return handlePubrel(this, packet)
      case 'pubcomp':
        return handlePubcomp(this, packet)
      case 'subscribe':
        return handleSubscribe(this, packet)
      case 'unsubscribe':
        return handleUnsubscribe(this, packet)
      case 'pingreq':
        return handlePingreq(this)
      case 'disconnect':
        return handleDisconnect(this, packet)
      case 'auth':
        return handleAuth(this, packet)
      case 'connect':
        // [MQTT-3.1.0-2] a second CONNECT is a protocol error.
        throw protocolError('second CONNECT')
      default:
        throw protocolError(`${packet.cmd} is sent by servers, not clients`)
    }
  }

  private onPacketError(err: unknown): void {
    if (err instanceof MqttProtocolError) {
      this.fail(err.reasonCode, err.message, err.code)
    } else if (err instanceof CodecError) {
      this.onCodecError(err)
    } else {
      this.log.error({ err }, 'internal error while handling a packet')
      this.terminate(ReasonCode.UnspecifiedError, 'internal error')
    }
  }

  private onCodecError(err: CodecError): void {
    if (this.state === 'awaiting-connect') {
      // The codec knows the version from the CONNECT's level byte even when the CONNECT was rejected.
      const version = err.protocolVersion ?? this.parser.protocolVersion
      if (version !== undefined) {
        this.protocolVersion = version
        this.v5 = version === 5
        this.state = 'authenticating'
      } else if (err.reasonCode === ReasonCode.UnsupportedProtocolVersion) {
        // [MQTT-3.1.2-2] unsupported protocol level: CONNACK return code 0x01, then close.
        this.log.warn({ reason: err.message, code: err.code }, 'unsupported protocol version')
        this.state = 'closing'
        this.connackSent = true
        this.end(UNSUPPORTED_PROTOCOL_CONNACK)
        return
      }
    }
    this.fail(err.reasonCode as ReasonCode, err.message, err.code)
  }

  onConnectTimeout(): void {
    this.connectTimer = undefined
    this.log.info({ state: this.state, timeoutMs: this.options.connectTimeoutMs }, 'connect timeout')
    // A CONNECT whose authentication did not finish in time is refused; no CONNECT, no answer.
    if (this.state === 'authenticating') this.sendRefusal(ReasonCode.NotAuthorized, 'authentication timed out')
    else this.end(undefined)
  }

  onKeepAliveTimeout(): void {
    this.keepAliveTimer = undefined
    this.log.info({ keepAliveMs: this.keepAliveMs }, 'keep alive timeout')
    // [MQTT-3.1.2-24] (3.1.1) [MQTT-3.1.2-22] (5.0) no packet within 1.5 × Keep Alive: DISCONNECT 0x8D (MQTT 5) and close.
    this.terminate(ReasonCode.KeepAliveTimeout, 'keep alive timeout')
  }

  /** The client half-closed: nothing more will come, so the connection ends. */
  onEnd(): void {
    this.handleHeldBack()
    if (this.open) this.state = 'closing'
    this.stream.destroy()
  }

  /**
   * The client's input ended (FIN or close) while packets it sent were held back because the
   * broker was slowing it down: they were received whole, so they are handled now, in order,
   * before the session is let go. Not during authentication: a refused CONNECT drops them
   * [MQTT-3.1.4-6].
   */
  private handleHeldBack(): void {
    const held = this.heldBack
    if (held === undefined || this.state !== 'connected') return
    this.pausedFor &= ~PAUSED_FOR_FLOW
    while (held.length > 0 && this.state === 'connected') this.runGuarded(held.shift()!)
    this.heldBack = undefined
  }

  onError(err: Error): void {
    this.log.debug({ err: err.message }, 'socket error')
  }

  onClose(): void {
    this.handleHeldBack()
    this.state = 'closed'
    this.clearTimers()
    this.writer.closed()
    this.detach()
    this.host.connectionClosed(this)
  }

  /** Hands the session back to the core once: the will goes out unless a DISCONNECT 0x00 removed it. */
  detach(): void {
    if (this.detached || this.session === undefined) return
    this.detached = true
    const options: { publishWill: boolean; sessionExpiryInterval?: number } = { publishWill: !this.willSuppressed }
    if (this.disconnectSessionExpiry !== undefined) options.sessionExpiryInterval = this.disconnectSessionExpiry
    this.log.info(this.hasWill ? { publishWill: options.publishWill } : {}, 'client disconnected')
    this.broker.disconnect(this.session, options)
  }

  /** Receive Maximum reached: stop reading until acknowledgements go out (handlers/publish.ts). */
  holdInbound(): void {
    this.pause(PAUSED_FOR_RECEIVE_MAXIMUM)
  }

  releaseInbound(): void {
    this.unpause(PAUSED_FOR_RECEIVE_MAXIMUM)
  }

  private pause(reason: number): void {
    if (this.pausedFor === 0) this.stream.pause()
    // While the broker holds the client back, its PINGREQs are not read: keep alive waits too.
    if ((reason & PAUSED_FOR_FLOW) !== 0 && (this.pausedFor & PAUSED_FOR_FLOW) === 0 && this.keepAliveTimer !== undefined) {
      clearTimeout(this.keepAliveTimer)
      this.keepAliveTimer = undefined
    }
    this.pausedFor |= reason
  }

  private unpause(reason: number): void {
    if ((this.pausedFor & reason) === 0) return
    this.pausedFor &= ~reason
    if (!this.open) return
    if ((reason & PAUSED_FOR_FLOW) !== 0 && (this.pausedFor & PAUSED_FOR_FLOW) === 0 && this.keepAliveMs > 0 && this.state === 'connected') {
      this.keepAliveTimer ??= setTimeout(keepAliveTimedOut, this.keepAliveMs, this)
    }
    this.runHeld()
    if (this.pausedFor === 0 && this.open && this.throttleTimer === undefined && (this.heldBack === undefined || this.heldBack.length === 0)) this.stream.resume()
  }

  private clearTimers(): void {
    clearTimeout(this.connectTimer)
    clearTimeout(this.keepAliveTimer)
    clearTimeout(this.throttleTimer)
    this.connectTimer = undefined
    this.keepAliveTimer = undefined
    this.throttleTimer = undefined
  }
}

/** MQTT 3.1.1 CONNACK with return code 0x01 (unacceptable protocol version). */
const UNSUPPORTED_PROTOCOL_CONNACK = Buffer.from([0x20, 0x02, 0x00, 0x01])

const NO_OUTBOUND_ALIASES = new OutboundTopicAliases(0)

/** Packets that answer what the broker already handled: never held back behind a PUBLISH. */
const ANSWERS: ReadonlySet<string> = new Set(['puback', 'pubrec', 'pubrel', 'pubcomp', 'pingreq'])

/** The stream's own connection, for the shared listeners below (`this` is the emitting stream). */
const CONNECTION = Symbol('fluxmq.connection')
interface OwnedStream extends Duplex {
  [CONNECTION]: Connection
}

function onStreamData(this: OwnedStream, chunk: Buffer): void {
  this[CONNECTION].onData(chunk)
}

function onStreamEnd(this: OwnedStream): void {
  this[CONNECTION].onEnd()
}

function onStreamError(this: OwnedStream, err: Error): void {
  this[CONNECTION].onError(err)
}

function onStreamClose(this: OwnedStream): void {
  this[CONNECTION].onClose()
}

function connectTimedOut(connection: Connection): void {
  connection.onConnectTimeout()
}

function keepAliveTimedOut(connection: Connection): void {
  connection.onKeepAliveTimeout()
}

function throttleEnded(connection: Connection): void {
  connection.onThrottleEnd()
}

function detachLater(connection: Connection): void {
  connection.detach()
}
