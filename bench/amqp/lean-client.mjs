// The generator's AMQP 1.0 client: raw frames on a socket, one session and one link per
// connection (the generator opens a connection per sender and per receiver). rhea encodes and
// decodes every frame through its generic typed codec and emits events per delivery; with it one
// generator process fed FluxMQ only half of its core (bench/README.md, "On a quiet machine").
// Here a sender's TRANSFER frames are patched copies of one template, every frame of a tick leaves
// in one write, and a receiver takes the data section out of a transfer and settles the tick's
// deliveries with one DISPOSITION per range. Flow control is the specification's: a sender sends
// only within its link credit and the peer's session incoming window; a receiver grants credit
// again once half of it is used and refreshes its session window with it.
import { connect } from 'node:net'
import { clearInterval, setInterval } from 'node:timers'
import {
  AMQP_HEADER,
  CODE,
  Decoder,
  Described,
  FALSE,
  NULL,
  SASL_HEADER,
  TRUE,
  binary,
  described,
  frame,
  list,
  performative,
  string,
  symbol,
  ubyte,
  uint,
} from './wire.mjs'

const WINDOW = 0x7fffffff
const MAX_FRAME = 65536
const EMPTY_FRAME = Buffer.from([0, 0, 0, 8, 2, 0, 0, 0])
// The TRANSFER template (frameTemplate): 8-byte frame header; performative list8 of handle 0,
// delivery-id (uint at 16), delivery-tag (4-byte binary at 22), message-format 0, settled false;
// then one data section (vbin32) whose bytes start at 36.
const DELIVERY_ID_AT = 16
const TAG_AT = 22
const PAYLOAD_AT = 36
const OUTCOMES = { 0x24: 'accepted', 0x25: 'rejected', 0x26: 'released', 0x27: 'modified' }

function condition(error) {
  const fields = error instanceof Described ? error.value : null
  return fields ? `${fields[0]}${fields[1] ? `: ${fields[1]}` : ''}` : 'no error given'
}

/** Opens a connection (SASL ANONYMOUS, else PLAIN guest) and resolves once the broker sent OPEN. */
export function connectAmqp({ host, port, containerId, onClose = () => {} }) {
  const connection = new Connection(host, port, containerId, onClose)
  return connection.opened
}

class Connection {
  constructor(host, port, containerId, onClose) {
    this.host = host
    this.containerId = containerId
    this.onClose = onClose
    this.pending = null
    this.stage = 'sasl-header'
    this.outbox = []
    this.flushing = false
    this.link = null
    this.closing = false
    this.heartbeat = null
    this.socket = connect({ host, port, noDelay: true })
    this.opened = new Promise((resolve, reject) => {
      this.resolveOpen = resolve
      this.rejectOpen = reject
    })
    this.socket.on('connect', () => this.socket.write(SASL_HEADER))
    this.socket.on('data', (chunk) => this.onData(chunk))
    this.socket.on('error', (error) => this.fail(error))
    this.socket.on('close', () => {
      clearInterval(this.heartbeat)
      this.fail(new Error('connection closed'))
      if (!this.closing) this.onClose()
    })
  }

  /** Queues bytes for the end of this tick: everything a tick produces leaves in one write. */
  queue(bytes) {
    this.outbox.push(bytes)
    if (this.flushing) return
    this.flushing = true
    process.nextTick(() => this.flush())
  }

  flush() {
    this.flushing = false
    const out = this.outbox.length === 1 ? this.outbox[0] : Buffer.concat(this.outbox)
    this.outbox = []
    if (!this.socket.destroyed) this.socket.write(out)
  }

  fail(error) {
    this.rejectOpen(error)
    this.link?.fail(error)
  }

  onData(chunk) {
    let buffer = this.pending ? Buffer.concat([this.pending, chunk]) : chunk
    let at = 0
    try {
      for (;;) {
        if (this.stage === 'sasl-header' || this.stage === 'amqp-header') {
          if (buffer.length - at < 8) break
          this.onHeader(buffer.subarray(at, at + 8))
          at += 8
          continue
        }
        if (buffer.length - at < 8) break
        const size = buffer.readUInt32BE(at)
        if (size < 8 || size > MAX_FRAME) throw new Error(`AMQP frame of ${size} bytes`)
        if (buffer.length - at < size) break
        // An empty frame is a heartbeat.
        if (size > buffer[at + 4] * 4) this.onFrame(buffer, at + buffer[at + 4] * 4, at + size)
        at += size
      }
    } catch (error) {
      this.fail(error)
      this.socket.destroy()
      return
    }
    this.pending = at < buffer.length ? buffer.subarray(at) : null
    this.link?.endOfRead()
  }

  onHeader(header) {
    const expected = this.stage === 'sasl-header' ? SASL_HEADER : AMQP_HEADER
    if (!header.equals(expected)) throw new Error(`unexpected protocol header ${header.toString('latin1')}`)
    this.stage = this.stage === 'sasl-header' ? 'sasl' : 'amqp'
  }

  onFrame(buffer, start, end) {
    const decoder = new Decoder(buffer.subarray(0, end), start)
    if (buffer[start] !== 0x00 || buffer[start + 1] !== 0x53) throw new Error('AMQP frame without a performative')
    const code = buffer[start + 2]
    // The hot frames go to the link without the generic decoder building their fields.
    if (code === CODE.transfer && this.link) return this.link.onTransfer(decoder)
    const body = decoder.value().value
    if (this.stage === 'sasl') return this.onSasl(code, body)
    switch (code) {
      case CODE.open:
        return this.onOpen(body)
      case CODE.begin:
        this.remoteNextOutgoing = body[1]
        return
      case CODE.attach:
      case CODE.flow:
      case CODE.disposition:
        return this.link?.onFrame(code, body)
      case CODE.detach:
      case CODE.end:
      case CODE.close: {
        const error = code === CODE.detach ? body[2] : body[0]
        throw new Error(`broker sent ${code === CODE.detach ? 'DETACH' : code === CODE.end ? 'END' : 'CLOSE'} (${condition(error)})`)
      }
    }
  }

  onSasl(code, body) {
    if (code === CODE.saslMechanisms) {
      const offered = [body[0]].flat()
      const init = offered.includes('ANONYMOUS')
        ? [symbol('ANONYMOUS'), binary(Buffer.from('anonymous')), string(this.host)]
        : [symbol('PLAIN'), binary(Buffer.from('\0guest\0guest')), string(this.host)]
      this.socket.write(performative(CODE.saslInit, init, 1))
      return
    }
    if (code !== CODE.saslOutcome) return
    if (body[0] !== 0) throw new Error(`SASL outcome ${body[0]}`)
    this.stage = 'amqp-header'
    const open = [string(this.containerId), string(this.host), uint(MAX_FRAME), Buffer.from([0x60, 0, 0])]
    const begin = [NULL, uint(0), uint(WINDOW), uint(WINDOW)]
    this.socket.write(Buffer.concat([AMQP_HEADER, performative(CODE.open, open), performative(CODE.begin, begin)]))
  }

  onOpen(body) {
    // The broker closes a peer silent for twice its idle time-out: an empty frame at half of it.
    const idle = body[4]
    if (idle) {
      this.heartbeat = setInterval(() => this.queue(EMPTY_FRAME), Math.max(100, idle / 2))
      this.heartbeat.unref()
    }
    this.resolveOpen(this)
  }

  /** Attaches the connection's one sender link; resolves once the broker has given it credit. */
  attachSender(address, onOutcome) {
    this.link = new SenderLink(this, address, onOutcome)
    return this.link.ready
  }

  /** Attaches the connection's one receiver link; `onBody(bytes)` per delivery, settled as accepted. */
  attachReceiver(address, credit, onBody) {
    this.link = new ReceiverLink(this, address, credit, onBody)
    return this.link.ready
  }

  close() {
    this.closing = true
    clearInterval(this.heartbeat)
    if (this.socket.destroyed) return Promise.resolve()
    return new Promise((resolve) => {
      this.socket.once('close', resolve)
      this.flush()
      this.socket.end(performative(CODE.close, []))
    })
  }
}

class Link {
  constructor(connection, name) {
    this.connection = connection
    this.name = name
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve
      this.rejectReady = reject
    })
  }

  fail(error) {
    this.rejectReady(error)
  }

  onTransfer() {
    throw new Error('TRANSFER on a sending link')
  }

  endOfRead() {}
}

class SenderLink extends Link {
  constructor(connection, address, onOutcome) {
    super(connection, `${connection.containerId}-sender`)
    this.onOutcome = onOutcome
    this.onSendable = () => {}
    this.deliveryCount = 0
    this.credit = 0
    this.remoteWindow = 0
    this.isAttached = false
    // Every TRANSFER of this link is one template with its delivery-id, tag and payload patched.
    this.template = null
    const source = described(CODE.source, list([]))
    const target = described(CODE.target, list([string(address)]))
    const attach = [string(this.name), uint(0), FALSE, ubyte(0), ubyte(0), source, target, NULL, NULL, uint(0)]
    connection.queue(performative(CODE.attach, attach))
  }

  onFrame(code, body) {
    if (code === CODE.attach) {
      // A refused link gets no credit and a DETACH with the condition, which ends the connection;
      // its target is not checked, as some peers (rhea's sink) leave it out.
      this.isAttached = true
      return
    }
    if (code === CODE.flow) {
      const [nextIncoming, incomingWindow, , , handle, deliveryCount, linkCredit] = body
      this.remoteWindow = (nextIncoming ?? 0) + incomingWindow - this.deliveryCount
      if (handle === 0) this.credit = deliveryCount + linkCredit - this.deliveryCount
      if (this.isAttached && this.credit > 0) {
        this.resolveReady(this)
        this.onSendable()
      }
      return
    }
    // DISPOSITION from the broker (role receiver): one delivery-id is this link's sequence number.
    const [role, first, last, settled, state] = body
    if (role !== true) return
    const outcome = state instanceof Described ? (OUTCOMES[state.descriptor] ?? 'unknown') : 'none'
    const error = outcome === 'rejected' ? condition(state.value[0]) : null
    for (let id = first; id <= (last ?? first); id += 1) this.onOutcome(id, outcome, error)
    if (!settled) this.connection.queue(performative(CODE.disposition, [FALSE, uint(first), uint(last ?? first), TRUE, described(state.descriptor, list([]))]))
  }

  sendable() {
    return this.credit > 0 && this.remoteWindow > 0
  }

  /** Sends `payload` as one unsettled transfer; its delivery-id, the link's count, is returned. */
  send(payload) {
    if (this.template === null || this.template.length !== PAYLOAD_AT + payload.length) this.template = this.frameTemplate(payload.length)
    const id = this.deliveryCount
    const out = Buffer.allocUnsafe(this.template.length)
    this.template.copy(out)
    out.writeUInt32BE(id, DELIVERY_ID_AT)
    out.writeUInt32BE(id, TAG_AT)
    payload.copy(out, PAYLOAD_AT)
    this.deliveryCount += 1
    this.credit -= 1
    this.remoteWindow -= 1
    this.connection.queue(out)
    return id
  }

  frameTemplate(payloadLength) {
    const transfer = Buffer.from([0x00, 0x53, CODE.transfer, 0xc0, 15, 5, 0x43, 0x70, 0, 0, 0, 0, 0xa0, 4, 0, 0, 0, 0, 0x43, 0x42])
    const section = Buffer.from([0x00, 0x53, CODE.data, 0xb0, 0, 0, 0, 0])
    section.writeUInt32BE(payloadLength, 4)
    return frame(Buffer.concat([transfer, section, Buffer.alloc(payloadLength)]))
  }
}

class ReceiverLink extends Link {
  constructor(connection, address, credit, onBody) {
    super(connection, `${connection.containerId}-receiver`)
    this.window = credit
    this.onBody = onBody
    this.deliveryCount = 0
    this.granted = 0
    this.nextIncoming = 0
    this.partial = null
    // The tick's unsettled deliveries, accepted in one DISPOSITION per contiguous range.
    this.rangeFirst = -1
    this.rangeLast = -1
    this.isAttached = false
    const source = described(CODE.source, list([string(address)]))
    const target = described(CODE.target, list([]))
    const attach = [string(this.name), uint(0), TRUE, NULL, ubyte(0), source, target]
    connection.queue(performative(CODE.attach, attach))
  }

  onFrame(code, body) {
    if (code === CODE.attach) {
      // A refused link has no source on the broker's side: the DETACH that follows ends it.
      if (body[5] === null || body[5] === undefined) return
      this.isAttached = true
      this.deliveryCount = body[9] ?? 0
      this.nextIncoming = this.connection.remoteNextOutgoing ?? 0
      this.grant()
      this.resolveReady(this)
    }
  }

  /** Credit back to `window`, with the session window moved along. */
  grant() {
    this.granted = this.window
    const flow = [uint(this.nextIncoming), uint(WINDOW), uint(0), uint(WINDOW), uint(0), uint(this.deliveryCount), uint(this.window)]
    this.connection.queue(performative(CODE.flow, flow))
  }

  onTransfer(decoder) {
    const fields = decoder.value().value
    const deliveryId = fields[1]
    const settled = fields[4] === true
    const more = fields[5] === true
    this.nextIncoming += 1
    let message = decoder.buffer.subarray(decoder.at)
    if (this.partial !== null) {
      this.partial.push(message)
      if (more) return
      message = Buffer.concat(this.partial)
      this.partial = null
    } else if (more) {
      this.partial = [message]
      this.partialId = deliveryId
      return
    }
    const id = deliveryId ?? this.partialId
    this.deliveryCount += 1
    this.granted -= 1
    if (!settled) this.settle(id)
    this.onBody(dataOf(message))
  }

  settle(id) {
    if (this.rangeFirst >= 0 && id === this.rangeLast + 1) {
      this.rangeLast = id
      return
    }
    this.flushRange()
    this.rangeFirst = id
    this.rangeLast = id
  }

  flushRange() {
    if (this.rangeFirst < 0) return
    const accepted = described(CODE.accepted, list([]))
    this.connection.queue(performative(CODE.disposition, [TRUE, uint(this.rangeFirst), uint(this.rangeLast), TRUE, accepted]))
    this.rangeFirst = -1
  }

  endOfRead() {
    if (!this.isAttached) return
    this.flushRange()
    if (this.granted <= this.window / 2) this.grant()
  }
}

/** The bytes of a message's data sections (other sections skipped). */
function dataOf(message) {
  const decoder = new Decoder(message)
  let body = null
  while (decoder.at < message.length) {
    const section = decoder.value()
    if (section.descriptor !== CODE.data) continue
    body = body === null ? section.value : Buffer.concat([body, section.value])
  }
  return body ?? Buffer.alloc(0)
}
