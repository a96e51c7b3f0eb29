import { EventEmitter } from 'node:events'
import type { Socket } from 'node:net'

/** The 4 bytes a protocol header starts with ("AMQP"); read where a frame size would be, it is one. */
const PROTOCOL_HEADER = 0x414d5150
const PROTOCOL_HEADER_SIZE = 8
/** [AMQP 2.3.1] A frame is at least its 8-byte header. */
const MIN_FRAME_SIZE = 8

/**
 * Follows the frame boundaries of an AMQP byte stream (protocol headers, SASL and AMQP frames)
 * and refuses a frame above the max-frame-size we advertise, before any of it is buffered. rhea
 * itself would buffer whatever size a frame header claims.
 */
export class FrameScanner {
  /** Bytes of the current frame still to pass. */
  private remaining = 0
  /** The start of a frame header or protocol header being read. */
  private readonly head = Buffer.alloc(PROTOCOL_HEADER_SIZE)
  private have = 0

  constructor(private readonly maxFrameSize: number) {}

  /** Undefined while the stream is well framed, else what is wrong with it. */
  scan(chunk: Buffer): string | undefined {
    let i = 0
    const length = chunk.length
    while (i < length) {
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, length - i)
        this.remaining -= n
        i += n
        continue
      }
      this.head[this.have++] = chunk[i++] as number
      if (this.have < 4) continue
      const size = this.head.readUInt32BE(0)
      if (size === PROTOCOL_HEADER) {
        if (this.have < PROTOCOL_HEADER_SIZE) continue
        this.have = 0
        continue
      }
      this.have = 0
      if (size < MIN_FRAME_SIZE) return `frame size ${size} is below the minimum of ${MIN_FRAME_SIZE}`
      if (size > this.maxFrameSize) return `frame size ${size} is above the max-frame-size ${this.maxFrameSize}`
      this.remaining = size - 4
    }
    return undefined
  }
}

/**
 * The socket as rhea sees it: the same calls, but data reaches rhea only after the FrameScanner
 * passed it. `onViolation` is called once, and nothing is passed on after it.
 */
export class GuardedSocket extends EventEmitter {
  private violated = false
  private corked = false

  constructor(
    readonly socket: Socket,
    private readonly scanner: FrameScanner,
    private readonly onViolation: (description: string) => void,
    /** After rhea has read a chunk: what it buffered may be checked. */
    private readonly afterData: () => void,
  ) {
    super()
    socket.on('data', (chunk: Buffer) => {
      if (this.violated) return
      const problem = this.scanner.scan(chunk)
      if (problem === undefined) {
        this.emit('data', chunk)
        this.afterData()
        return
      }
      this.violated = true
      this.onViolation(problem)
    })
    socket.on('end', () => this.emit('end'))
    socket.on('error', (err: Error) => this.emit('error', err))
  }

  get encrypted(): boolean {
    return (this.socket as Socket & { encrypted?: boolean }).encrypted === true
  }

  get authorized(): boolean {
    return (this.socket as Socket & { authorized?: boolean }).authorized === true
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress
  }

  get remotePort(): number | undefined {
    return this.socket.remotePort
  }

  /** rhea writes every frame on its own: corked until the end of the tick, they leave in one writev. */
  write(data: Buffer): boolean {
    const socket = this.socket
    if (socket.destroyed || socket.writableEnded) return false
    if (!this.corked) {
      this.corked = true
      socket.cork()
      process.nextTick(this.uncork)
    }
    return socket.write(data)
  }

  private readonly uncork = (): void => {
    this.corked = false
    this.socket.uncork()
  }

  end(): void {
    this.socket.end()
  }

  destroy(): void {
    this.socket.destroy()
  }

  setNoDelay(noDelay: boolean): void {
    this.socket.setNoDelay(noDelay)
  }
}
