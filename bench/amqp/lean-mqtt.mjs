// The generator's MQTT 3.1.1 subscriber: CONNECT (clean session, no keep-alive), one SUBSCRIBE,
// then PUBLISH packets read off the socket and the tick's PUBACKs written in one buffer. mqtt.js
// parses every packet into an object, emits events and writes each PUBACK on its own.
import { connect } from 'node:net'

function remainingLength(length) {
  const bytes = []
  do {
    let byte = length % 128
    length = Math.floor(length / 128)
    if (length > 0) byte |= 0x80
    bytes.push(byte)
  } while (length > 0)
  return Buffer.from(bytes)
}

function utf8(text) {
  const bytes = Buffer.from(text, 'utf8')
  const out = Buffer.allocUnsafe(2 + bytes.length)
  out.writeUInt16BE(bytes.length, 0)
  bytes.copy(out, 2)
  return out
}

function packet(first, body) {
  return Buffer.concat([Buffer.from([first]), remainingLength(body.length), body])
}

/**
 * Connects as `clientId`, subscribes to `filter` at QoS 1 and resolves once SUBACK granted it;
 * `onPayload(bytes)` per message. Resolves to `close()`.
 */
export function subscribeMqtt({ host, port, clientId, filter, onPayload, onClose = () => {} }) {
  const socket = connect({ host, port, noDelay: true })
  let pending = null
  let closing = false
  let acks = []
  let acking = false
  const flushAcks = () => {
    acking = false
    const out = Buffer.concat(acks)
    acks = []
    if (!socket.destroyed) socket.write(out)
  }
  return new Promise((resolve, reject) => {
    const close = () =>
      new Promise((done) => {
        closing = true
        if (socket.destroyed) return done()
        socket.once('close', done)
        socket.end(Buffer.from([0xe0, 0]))
      })
    const onPacket = (buffer, first, start, end) => {
      const type = first & 0xf0
      if (type === 0x30) {
        const qos = (first >> 1) & 3
        let at = start + 2 + buffer.readUInt16BE(start)
        if (qos > 0) {
          const ack = Buffer.allocUnsafe(4)
          ack[0] = 0x40
          ack[1] = 2
          ack[2] = buffer[at]
          ack[3] = buffer[at + 1]
          at += 2
          acks.push(ack)
          if (!acking) {
            acking = true
            process.nextTick(flushAcks)
          }
        }
        return onPayload(buffer.subarray(at, end))
      }
      if (type === 0x20) {
        if (buffer[start + 1] !== 0) throw new Error(`CONNACK return code ${buffer[start + 1]}`)
        const body = Buffer.concat([Buffer.from([0, 1]), utf8(filter), Buffer.from([1])])
        socket.write(packet(0x82, body))
        return
      }
      if (type === 0x90) {
        if (buffer[start + 2] > 2) throw new Error(`SUBACK refused ${filter}`)
        resolve(close)
      }
    }
    socket.on('connect', () => {
      const body = Buffer.concat([utf8('MQTT'), Buffer.from([4, 0x02, 0, 0]), utf8(clientId)])
      socket.write(packet(0x10, body))
    })
    socket.on('data', (chunk) => {
      const buffer = pending ? Buffer.concat([pending, chunk]) : chunk
      let at = 0
      try {
        while (buffer.length - at >= 2) {
          let length = 0
          let multiplier = 1
          let i = at + 1
          for (; i < buffer.length; i += 1) {
            length += (buffer[i] & 0x7f) * multiplier
            multiplier *= 128
            if ((buffer[i] & 0x80) === 0) break
          }
          if (i >= buffer.length || buffer.length - (i + 1) < length) break
          onPacket(buffer, buffer[at], i + 1, i + 1 + length)
          at = i + 1 + length
        }
      } catch (error) {
        reject(error)
        socket.destroy()
        return
      }
      pending = at < buffer.length ? buffer.subarray(at) : null
    })
    socket.on('error', reject)
    socket.on('close', () => {
      reject(new Error(`MQTT subscriber ${clientId}: connection closed`))
      if (!closing) onClose()
    })
  })
}
