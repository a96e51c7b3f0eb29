// The queue scenario's MQTT 5 client (bench/queue.mjs): only what its generator does — CONNECT,
// SUBSCRIBE with user properties, QoS 1 PUBLISH with user properties and its PUBACK, PUBACK of
// each QoS 1 delivery — written by hand so that the generator costs little per packet. mqtt.js
// spent 45 µs of generator CPU per message on the persistent path and 100 µs on the queue path
// (a `writev` per packet, a cloned copy of every QoS 1 publish in its store, a parse into objects
// of every property), more than the broker, so the two rows measured mqtt.js. Both rows use this
// client. Writes of one event-loop turn leave in one `writev`.
import { createConnection } from 'node:net'
import { setImmediate } from 'node:timers'

const CONNECT = 0x10
const CONNACK = 0x20
const PUBLISH = 0x30
const PUBACK = 0x40
const SUBSCRIBE = 0x82
const SUBACK = 0x90
const DISCONNECT = 0xe0
const PROPERTY_SESSION_EXPIRY = 0x11
const PROPERTY_USER = 0x26
/** Bytes of each fixed-size PUBLISH property a broker may send, by property id (MQTT 5 §2.2.2.2). */
const FIXED_PROPERTY = { 0x01: 1, 0x02: 4, 0x23: 2 }
/** PUBLISH properties that are one UTF-8 string or binary data: two length bytes, then the bytes. */
const PREFIXED_PROPERTY = new Set([0x03, 0x08, 0x09])
const SUBSCRIPTION_IDENTIFIER = 0x0b

function varintSize(n) {
  return n < 128 ? 1 : n < 16384 ? 2 : n < 2097152 ? 3 : 4
}

function writeVarint(buf, pos, n) {
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    buf[pos++] = byte
  } while (n > 0)
  return pos
}

/** [value, position after it] of the Variable Byte Integer at `pos`, or undefined when it is not all there. */
function readVarint(buf, pos, end) {
  let value = 0
  let multiplier = 1
  for (let i = 0; i < 4 && pos < end; i++) {
    const byte = buf[pos++]
    value += (byte & 0x7f) * multiplier
    if ((byte & 0x80) === 0) return [value, pos]
    multiplier *= 128
  }
  if (pos >= end) return undefined
  throw new Error('malformed Variable Byte Integer')
}

/** A UTF-8 string with its two length bytes. */
function string(s) {
  const bytes = Buffer.from(s, 'utf8')
  return Buffer.concat([Buffer.from([bytes.length >> 8, bytes.length & 0xff]), bytes])
}

/** User properties `[[name, value], …]` as a property block without its length, in one allocation. */
export function userPropertyBytes(pairs) {
  let size = 0
  for (const [name, value] of pairs) size += 5 + Buffer.byteLength(name) + Buffer.byteLength(value)
  const out = Buffer.allocUnsafe(size)
  let pos = 0
  for (const [name, value] of pairs) {
    out[pos++] = PROPERTY_USER
    for (const s of [name, value]) {
      const length = out.write(s, pos + 2)
      out.writeUInt16BE(length, pos)
      pos += 2 + length
    }
  }
  return out
}

/** A packet: first byte, Remaining Length, then the variable header and payload given as one buffer. */
function packet(first, body) {
  const out = Buffer.allocUnsafe(1 + varintSize(body.length) + body.length)
  out[0] = first
  body.copy(out, writeVarint(out, 1, body.length))
  return out
}

/** A property block with its length in front. */
function withLength(properties) {
  const length = Buffer.allocUnsafe(varintSize(properties.length))
  writeVarint(length, 0, properties.length)
  return Buffer.concat([length, properties])
}

const NO_PROPERTIES = Buffer.alloc(0)

/**
 * A PUBLISH of `topic` (encoded with its length), QoS 1 with `packetId` > 0, else QoS 0; the
 * property block without its length.
 */
function encodePublish(topic, packetId, properties, payload) {
  const remaining = topic.length + (packetId > 0 ? 2 : 0) + varintSize(properties.length) + properties.length + payload.length
  const out = Buffer.allocUnsafe(1 + varintSize(remaining) + remaining)
  out[0] = packetId > 0 ? PUBLISH | 0x02 : PUBLISH
  let pos = writeVarint(out, 1, remaining)
  pos += topic.copy(out, pos)
  if (packetId > 0) {
    out[pos++] = packetId >> 8
    out[pos++] = packetId & 0xff
  }
  pos = writeVarint(out, pos, properties.length)
  pos += properties.copy(out, pos)
  payload.copy(out, pos)
  return out
}

/**
 * A connected client. `onMessage(topic, payload, userProperty)` hears each delivery (a QoS 1 one
 * is PUBACKed after it returns); `userProperty(name)` reads one of its user properties.
 */
export class LeanClient {
  /** @param {import('node:net').Socket} socket */
  constructor(socket) {
    this.socket = socket
    this.connected = true
    this.onMessage = () => undefined
    /** The start of a packet that the last chunk cut. */
    this.inbox = undefined
    /** Per packet id in use, what hears its acknowledgement. */
    this.pending = new Array(65536)
    this.nextId = 1
    this.corked = false
    /** CONNACK / SUBACK waiters, in order. */
    this.waiters = []
    /** Topics encoded once. */
    this.topics = new Map()
    socket.setNoDelay(true)
    socket.on('data', (chunk) => this.read(chunk))
    socket.on('error', () => undefined)
    socket.on('close', () => this.closed())
  }

  /** Resolves with a client once CONNACK accepted the session; `sessionExpiry` > 0 keeps the session (no Clean Start). */
  static connect(port, { clientId, sessionExpiry = 0 }) {
    return new Promise((resolve, reject) => {
      const socket = createConnection({ host: '127.0.0.1', port })
      socket.once('error', reject)
      socket.once('connect', () => {
        const client = new LeanClient(socket)
        const accepted = (body) => (body[1] === 0 ? resolve(client) : reject(new Error(`CONNACK reason 0x${body[1].toString(16)}`)))
        client.waiters.push({ resolve: accepted, reject })
        const properties = sessionExpiry > 0 ? Buffer.from([PROPERTY_SESSION_EXPIRY, 0, 0, 0, 0]) : NO_PROPERTIES
        if (sessionExpiry > 0) properties.writeUInt32BE(sessionExpiry, 1)
        // Protocol name, level 5, flags (Clean Start unless the session is kept), keep alive 0.
        const header = Buffer.concat([string('MQTT'), Buffer.from([5, sessionExpiry > 0 ? 0 : 0x02, 0, 0]), withLength(properties)])
        client.write(packet(CONNECT, Buffer.concat([header, string(clientId)])))
      })
    })
  }

  /** SUBSCRIBE to one filter at QoS 1 with user properties; resolves with the SUBACK's reason code. */
  subscribe(filter, userProperties = []) {
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve: (body) => resolve(body[body.length - 1]), reject })
      // SUBACKs are matched by order (one at a time here), not by packet id.
      const body = Buffer.concat([Buffer.from([0, 1]), withLength(userPropertyBytes(userProperties)), string(filter), Buffer.from([1])])
      this.write(packet(SUBSCRIBE, body))
    })
  }

  /**
   * A PUBLISH; at QoS 1 `done(ok)` hears its PUBACK (ok: reason code below 0x80) or the end of
   * the connection (false), at QoS 0 nothing. `properties`: a block from `userPropertyBytes`.
   */
  publish(topic, payload, done, properties = NO_PROPERTIES, qos = 1) {
    let encoded = this.topics.get(topic)
    if (encoded === undefined) this.topics.set(topic, (encoded = string(topic)))
    this.write(encodePublish(encoded, qos === 1 ? this.takeId(done) : 0, properties, payload))
  }

  /** DISCONNECT (normal) and the end of the socket; resolves once it closed. */
  end() {
    return new Promise((resolve) => {
      if (!this.connected) return resolve()
      this.socket.once('close', () => resolve())
      this.write(Buffer.from([DISCONNECT, 0]))
      this.flush()
      this.socket.end()
    })
  }

  takeId(done) {
    let id = this.nextId
    while (this.pending[id] !== undefined) id = id === 65535 ? 1 : id + 1
    this.nextId = id === 65535 ? 1 : id + 1
    this.pending[id] = done
    return id
  }

  write(buf) {
    if (!this.connected) return
    if (!this.corked) {
      this.corked = true
      this.socket.cork()
      setImmediate(() => this.flush())
    }
    this.socket.write(buf)
  }

  flush() {
    if (!this.corked) return
    this.corked = false
    this.socket.uncork()
  }

  read(chunk) {
    const buf = this.inbox === undefined ? chunk : Buffer.concat([this.inbox, chunk])
    let pos = 0
    while (pos < buf.length) {
      const length = readVarint(buf, pos + 1, buf.length)
      if (length === undefined) break
      const [remaining, start] = length
      if (start + remaining > buf.length) break
      this.dispatch(buf[pos], buf, start, start + remaining)
      pos = start + remaining
    }
    this.inbox = pos === buf.length ? undefined : buf.subarray(pos)
  }

  dispatch(first, buf, start, end) {
    const type = first & 0xf0
    if (type === PUBLISH) {
      this.delivery(first, buf, start, end)
    } else if (type === PUBACK) {
      const id = (buf[start] << 8) | buf[start + 1]
      const done = this.pending[id]
      if (done === undefined) return
      this.pending[id] = undefined
      // Without a reason code it is 0x00 Success (MQTT 5 §3.4.2.1).
      done(end - start < 3 || buf[start + 2] < 0x80)
    } else if (type === CONNACK || type === SUBACK) {
      this.waiters.shift()?.resolve(buf.subarray(start, end))
    } else if (type === DISCONNECT) {
      this.socket.destroy()
    }
  }

  delivery(first, buf, start, end) {
    const qos = (first >> 1) & 3
    let pos = start + 2 + ((buf[start] << 8) | buf[start + 1])
    const topic = buf.toString('utf8', start + 2, pos)
    let id = 0
    if (qos > 0) {
      id = (buf[pos] << 8) | buf[pos + 1]
      pos += 2
    }
    const [propertiesLength, propertiesStart] = readVarint(buf, pos, end)
    const propertiesEnd = propertiesStart + propertiesLength
    this.onMessage(topic, buf.subarray(propertiesEnd, end), (name) => findUserProperty(buf, propertiesStart, propertiesEnd, name))
    if (qos === 1) this.write(Buffer.from([PUBACK, 2, id >> 8, id & 0xff]))
  }

  closed() {
    this.connected = false
    this.corked = false
    for (const waiter of this.waiters.splice(0)) waiter.reject(new Error('connection closed'))
    for (let id = 1; id < 65536; id++) {
      const done = this.pending[id]
      if (done === undefined) continue
      this.pending[id] = undefined
      done(false)
    }
  }
}

/** The value of the first user property `name` in a PUBLISH's property block, or undefined. */
function findUserProperty(buf, pos, end, name) {
  while (pos < end) {
    const property = buf[pos++]
    if (property === PROPERTY_USER) {
      const nameLength = (buf[pos] << 8) | buf[pos + 1]
      const nameStart = pos + 2
      const valueAt = nameStart + nameLength
      const valueLength = (buf[valueAt] << 8) | buf[valueAt + 1]
      if (buf.toString('utf8', nameStart, valueAt) === name) {
        return buf.toString('utf8', valueAt + 2, valueAt + 2 + valueLength)
      }
      pos = valueAt + 2 + valueLength
    } else if (property in FIXED_PROPERTY) {
      pos += FIXED_PROPERTY[property]
    } else if (PREFIXED_PROPERTY.has(property)) {
      pos += 2 + ((buf[pos] << 8) | buf[pos + 1])
    } else if (property === SUBSCRIPTION_IDENTIFIER) {
      pos = readVarint(buf, pos, end)[1]
    } else {
      throw new Error(`unexpected PUBLISH property 0x${property.toString(16)}`)
    }
  }
  return undefined
}
