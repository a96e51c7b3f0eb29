import { createConnection } from 'node:net'
import type { Socket } from 'node:net'
import { withTimeout } from '@fluxmq/testing'

/** A plain TCP connection for bytes no well-behaved client would send. */
export class RawConnection {
  private bytes = Buffer.alloc(0)
  private readonly waiting = new Set<() => void>()
  readonly closed: Promise<void>

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.bytes = Buffer.concat([this.bytes, chunk])
      for (const wake of this.waiting) wake()
    })
    // A reset from the broker is a close too; the test looks at what arrived before it.
    socket.on('error', () => undefined)
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()))
  }

  static async open(port: number): Promise<RawConnection> {
    const socket = createConnection(port, '127.0.0.1')
    await withTimeout(new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject)), 5_000, `TCP connect to ${port}`)
    return new RawConnection(socket)
  }

  get received(): Buffer {
    return this.bytes
  }

  write(bytes: Buffer | readonly number[]): void {
    this.socket.write(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes))
  }

  /** Resolves once at least `count` bytes arrived in total. */
  waitForBytes(count: number, timeoutMs = 5_000): Promise<Buffer> {
    if (this.bytes.length >= count) return Promise.resolve(this.bytes)
    let wake: () => void = () => undefined
    const enough = new Promise<Buffer>((resolve) => {
      wake = () => {
        if (this.bytes.length >= count) resolve(this.bytes)
      }
      this.waiting.add(wake)
    })
    return withTimeout(enough, timeoutMs, () => `${count} bytes (have ${this.bytes.length})`).finally(() => this.waiting.delete(wake))
  }

  destroy(): void {
    this.socket.destroy()
  }
}

/** MQTT 5.0 CONNECT, Clean Start, keep alive 60 s, no properties, a short ASCII client id. */
export function connectV5(clientId: string): Buffer {
  const id = Buffer.from(clientId, 'latin1')
  // Protocol Name "MQTT", level 5, flags 0x02 (Clean Start), keep alive 60, property length 0.
  const variable = Buffer.from([0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x05, 0x02, 0x00, 0x3c, 0x00])
  const remaining = variable.length + 2 + id.length
  if (remaining > 127) throw new Error('client id too long for a one-byte remaining length')
  return Buffer.concat([Buffer.from([0x10, remaining]), variable, Buffer.from([0x00, id.length]), id])
}
