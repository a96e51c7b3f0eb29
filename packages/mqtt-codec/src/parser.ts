import type { Packet } from 'mqtt-packet'
import { ReasonCode } from './reason-code.js'
import { emptyAuth, parseAck, parsePingreq } from './ack-parse.js'
import { parseConnect } from './connect-parse.js'
import { parseWithMqttPacket } from './delegate.js'
import { CodecError, CodecErrorCode, malformed, protocolViolation } from './errors.js'
import { PacketType, type ProtocolVersion } from './protocol.js'
import { parsePublish, TopicMemo } from './publish-parse.js'
import { checkDelegatedPacket } from './validate.js'
import { readVarint, VARINT_INVALID, writeVarint, type VarintRead } from './varint.js'

export interface ParserOptions {
  /** Largest inbound packet accepted, in bytes, fixed header included (MQTT 5 Maximum Packet Size). */
  maxPacketSize: number
}

/** Fixed-header flags each type must carry [MQTT-2.1.3-1]; -1 where the flags carry data (PUBLISH) or the type is forbidden. */
const REQUIRED_FLAGS = [-1, 0, 0, -1, 0, 0, 2, 0, 2, 0, 2, 0, 0, 0, 0, 0] as const
const TYPE_NAMES = ['reserved', 'CONNECT', 'CONNACK', 'PUBLISH', 'PUBACK', 'PUBREC', 'PUBREL', 'PUBCOMP', 'SUBSCRIBE', 'SUBACK', 'UNSUBSCRIBE', 'UNSUBACK', 'PINGREQ', 'PINGRESP', 'DISCONNECT', 'AUTH'] as const
/** MQTT 5 §2.1.2 direction column: packets only a Server sends. */
const SERVER_TO_CLIENT_ONLY: ReadonlySet<number> = new Set([PacketType.Connack, PacketType.Suback, PacketType.Unsuback, PacketType.Pingresp])

/**
 * Where `readVarint` leaves each Remaining Length. One for all parsers: a parser reads it right
 * after filling it, with no other parser running in between (parsing is synchronous).
 */
const headerScratch: VarintRead = { value: 0, end: 0 }

/** Between packets: no fixed header read yet. */
const AWAITING_HEADER = -1

/**
 * Streaming parser for the packets a Server receives. Framing is its own: the fixed header is
 * checked and the size limit enforced before any of the body is buffered, so a peer announcing
 * 200 MB costs nothing. PUBLISH, the acknowledgements and PINGREQ are parsed by hand (they are
 * nearly all of the traffic); CONNECT, SUBSCRIBE, UNSUBSCRIBE, DISCONNECT and AUTH go to
 * mqtt-packet, with the checks it lacks added around it.
 *
 * Memory: at most 5 header bytes plus the body received so far of one packet, never more than
 * `maxPacketSize`. Chunks passed to `push` may be referenced until their packet is complete, so
 * callers must not reuse them (socket and WebSocket chunks never are).
 */
export class MqttParser {
  private readonly maxPacketSize: number
  private version: ProtocolVersion | undefined = undefined
  private bridgeMode = false
  private failure: CodecError | undefined = undefined
  /** Set when an `onPacket` callback threw: the rest of that chunk was lost, so the stream position is too. */
  private callbackFailed = false

  /** A fixed header split across chunks collects here; created the first time one is (an idle connection never needs it). */
  private header: Buffer | undefined = undefined
  private headerLength = 0

  private frameFirstByte = 0
  private frameHeaderSize = 0
  private frameRemaining = AWAITING_HEADER
  /** The chunks of a body that spans chunks; created with the first such body. */
  private pending: Buffer[] | undefined = undefined
  private pendingBytes = 0
  /** Created with the connection's first PUBLISH: idle connections do not pay for it. */
  private topicMemo: TopicMemo | undefined = undefined

  constructor(options: ParserOptions) {
    if (!Number.isInteger(options.maxPacketSize) || options.maxPacketSize < 2) {
      throw new RangeError(`maxPacketSize must be an integer >= 2, got ${options.maxPacketSize}`)
    }
    this.maxPacketSize = options.maxPacketSize
  }

  /** Undefined until CONNECT is parsed, then that CONNECT's version; later packets are parsed with it. */
  get protocolVersion(): ProtocolVersion | undefined {
    return this.version
  }

  /**
   * Feeds any chunking of the byte stream; calls `onPacket` for each complete packet in order.
   * Throws CodecError on the first malformed, oversized or protocol-violating packet (packets
   * before it in the same chunk have been delivered); every later call throws the same error.
   * If `onPacket` throws, the exception propagates, the rest of the chunk is not parsed, and
   * every later call throws, because the position in the stream is lost.
   * `onPacket` is called with `thisArg` as `this`, so a caller can pass a method shared by all its
   * connections instead of a closure per connection.
   */
  push(chunk: Buffer, onPacket: (packet: Packet) => void): void
  push<T>(chunk: Buffer, onPacket: (this: T, packet: Packet) => void, thisArg: T): void
  push(chunk: Buffer, onPacket: (this: unknown, packet: Packet) => void, thisArg?: unknown): void {
    if (this.failure !== undefined) throw this.failure
    if (this.callbackFailed) throw new Error('MqttParser cannot continue: an onPacket callback threw and the rest of its chunk was lost')
    try {
      this.consume(chunk, onPacket, thisArg)
    } catch (error) {
      this.pending = undefined
      this.pendingBytes = 0
      if (error instanceof CodecError) {
        this.failure = error.withProtocolVersion(this.version)
        throw this.failure
      }
      this.callbackFailed = true
      throw error
    }
  }

  private consume(chunk: Buffer, onPacket: (this: unknown, packet: Packet) => void, thisArg: unknown): void {
    const length = chunk.length
    let offset = 0
    while (offset < length) {
      if (this.frameRemaining === AWAITING_HEADER) {
        offset = this.readFixedHeader(chunk, offset)
        if (this.frameRemaining === AWAITING_HEADER) return
      }
      const remaining = this.frameRemaining
      if (this.pendingBytes === 0 && length - offset >= remaining) {
        // The whole body is in this chunk: parse it in place.
        const end = offset + remaining
        this.frameRemaining = AWAITING_HEADER
        const packet = this.parseBody(chunk, offset, end, false)
        offset = end
        onPacket.call(thisArg, packet)
        continue
      }
      const take = Math.min(remaining - this.pendingBytes, length - offset)
      const pending = (this.pending ??= [])
      pending.push(chunk.subarray(offset, offset + take))
      this.pendingBytes += take
      offset += take
      if (this.pendingBytes < remaining) return
      // The body spanned chunks, so it is copied once into a buffer of its own.
      const body = Buffer.concat(pending, remaining)
      pending.length = 0
      this.pendingBytes = 0
      this.frameRemaining = AWAITING_HEADER
      onPacket.call(thisArg, this.parseBody(body, 0, remaining, true))
    }
  }

  /** Reads (the rest of) a fixed header; returns the offset after what it consumed. */
  private readFixedHeader(chunk: Buffer, offset: number): number {
    const varint = headerScratch
    if (this.headerLength === 0) {
      readVarint(chunk, offset + 1, chunk.length, varint)
      if (varint.value >= 0) {
        this.beginFrame(chunk[offset] as number, varint.value, varint.end - offset)
        return varint.end
      }
      if (varint.value === VARINT_INVALID) throw invalidRemainingLength()
      // At most 4 bytes (type + 3 length bytes) can be pending here.
      this.headerLength = chunk.copy((this.header ??= Buffer.alloc(5)), 0, offset)
      return chunk.length
    }
    const header = this.header as Buffer
    while (offset < chunk.length) {
      header[this.headerLength++] = chunk[offset++] as number
      readVarint(header, 1, this.headerLength, varint)
      if (varint.value === VARINT_INVALID) throw invalidRemainingLength()
      if (varint.value >= 0) {
        this.headerLength = 0
        this.beginFrame(header[0] as number, varint.value, varint.end)
        return offset
      }
    }
    return offset
  }

  /** Every check that needs only the fixed header, before any body byte is kept. */
  private beginFrame(firstByte: number, remaining: number, headerSize: number): void {
    const type = firstByte >> 4
    const flags = firstByte & 0x0f
    const name = TYPE_NAMES[type] as string
    if (type === PacketType.Reserved) throw malformed('packet type 0 is reserved')
    if (type === PacketType.Publish) {
      // [MQTT-3.3.1-4] A PUBLISH packet MUST NOT have both QoS bits set to 1.
      if ((flags & 0x06) === 0x06) throw malformed('PUBLISH QoS is 3', 'MQTT-3.3.1-4')
    } else if (flags !== REQUIRED_FLAGS[type]) {
      // [MQTT-2.1.3-1] Reserved flag bits MUST have the values of Table 2-2, else the packet is malformed.
      throw malformed(`${name} fixed header flags are 0x${flags.toString(16)}, must be 0x${(REQUIRED_FLAGS[type] as number).toString(16)}`, 'MQTT-2.1.3-1')
    }
    if (this.version === undefined) {
      // [MQTT-3.1.0-1] The first packet from the Client to the Server MUST be CONNECT.
      if (type !== PacketType.Connect) throw protocolViolation(`first packet is ${name}, not CONNECT`, 'MQTT-3.1.0-1')
    } else if (type === PacketType.Connect) {
      // [MQTT-3.1.0-2] A second CONNECT is a Protocol Error.
      throw protocolViolation('second CONNECT on one connection', 'MQTT-3.1.0-2')
    } else if (SERVER_TO_CLIENT_ONLY.has(type)) {
      throw protocolViolation(`${name} is only sent by a Server`)
    } else if (type === PacketType.Auth && this.version !== 5) {
      // Type 15 is reserved before MQTT 5.
      throw malformed('packet type 15 is reserved before MQTT 5')
    }
    const size = headerSize + remaining
    if (size > this.maxPacketSize) {
      // MQTT 5 §3.1.2.11.4 / §3.2.2.3.6: a packet over the Maximum Packet Size is answered with 0x95.
      throw new CodecError(CodecErrorCode.PacketTooLarge, ReasonCode.PacketTooLarge, `${name} of ${size} bytes exceeds the maximum packet size of ${this.maxPacketSize}`)
    }
    this.frameFirstByte = firstByte
    this.frameHeaderSize = headerSize
    this.frameRemaining = remaining
  }

  private parseBody(buf: Buffer, start: number, end: number, owned: boolean): Packet {
    const firstByte = this.frameFirstByte
    const type = firstByte >> 4
    const flags = firstByte & 0x0f
    const version = this.version
    if (version === undefined) {
      // beginFrame let only CONNECT through.
      const parsed = parseConnect(this.ownedFrame(buf, start, end), this.frameHeaderSize)
      this.version = parsed.version
      this.bridgeMode = parsed.bridgeMode
      return parsed.packet
    }
    switch (type) {
      case PacketType.Publish:
        return parsePublish(buf, start, end, flags, version, owned, (this.topicMemo ??= new TopicMemo()))
      case PacketType.Puback:
      case PacketType.Pubrec:
      case PacketType.Pubrel:
      case PacketType.Pubcomp:
        return parseAck(type, buf, start, end, flags, version, owned)
      case PacketType.Pingreq:
        return parsePingreq(end - start)
      case PacketType.Auth:
        // MQTT 5 §3.15.2.1: Remaining Length 0 is reason 0x00 without properties. mqtt-packet reads
        // a reason code past the end and calls it invalid, so this form is answered here.
        return end === start ? emptyAuth() : this.delegate(buf, start, end, version)
      default:
        return this.delegate(buf, start, end, version)
    }
  }

  /** The rare packet types: mqtt-packet parses them, with the checks it lacks added around it. */
  private delegate(buf: Buffer, start: number, end: number, version: ProtocolVersion): Packet {
    const packet = parseWithMqttPacket(this.ownedFrame(buf, start, end), { version, bridgeMode: this.bridgeMode })
    checkDelegatedPacket(packet)
    return packet
  }

  /** A fresh buffer holding the whole packet, fixed header included, for mqtt-packet. */
  private ownedFrame(buf: Buffer, start: number, end: number): Buffer {
    const frame = Buffer.allocUnsafe(this.frameHeaderSize + end - start)
    frame[0] = this.frameFirstByte
    writeVarint(frame, 1, end - start)
    buf.copy(frame, this.frameHeaderSize, start, end)
    return frame
  }
}

function invalidRemainingLength(): CodecError {
  // [MQTT-1.5.5-1] At most four bytes, in the shortest form.
  return malformed('Remaining Length is longer than 4 bytes or not in its shortest form', 'MQTT-1.5.5-1')
}
