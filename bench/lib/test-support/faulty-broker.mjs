// A deliberately faulty broker for the generator's own tests: it forwards every PUBLISH byte for
// byte to every subscriber, except the ones `drop(n)` picks, and sends the ones `duplicate(n)`
// picks twice. A QoS 1 PUBLISH is acknowledged (PUBACK) when `ack(n)` says so, whether it is then
// forwarded or dropped. After forwarding `closeSubscribersAfter` messages it closes every
// subscriber's connection, as a broker cutting off a client that does not keep up; after
// `pauseAfter` PUBLISH it stops reading the publisher that sent the last one, as a broker pushing
// back. The generator must count exactly those losses, duplicates and disconnects.
import { createServer } from 'node:net'

const CONNACK = Buffer.from([0x20, 2, 0, 0])

/** Splits complete MQTT packets off the front of `buffer`; returns [packets, rest]. */
function frames(buffer) {
  const packets = []
  let at = 0
  for (;;) {
    let length = 0
    let multiplier = 1
    let i = at + 1
    for (; i < buffer.length && i < at + 5; i += 1) {
      length += (buffer[i] & 0x7f) * multiplier
      multiplier *= 128
      if ((buffer[i] & 0x80) === 0) break
    }
    if (i >= buffer.length || i + 1 + length > buffer.length) break
    const end = i + 1 + length
    packets.push({ packet: buffer.subarray(at, end), header: i + 1 - at })
    at = end
  }
  return [packets, buffer.subarray(at)]
}

export async function startFaultyBroker({ drop = () => false, duplicate = () => false, ack = () => true, closeSubscribersAfter = Infinity, pauseAfter = Infinity } = {}) {
  const subscribers = new Set()
  const sockets = new Set()
  const stats = { published: 0, dropped: 0, duplicated: 0, acked: 0, forwarded: 0 }
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.setNoDelay(true)
    let pending = Buffer.alloc(0)
    socket.on('data', (chunk) => {
      const [packets, rest] = frames(Buffer.concat([pending, chunk]))
      pending = rest
      for (const { packet, header } of packets) {
        const type = packet[0] >> 4
        if (type === 1) socket.write(CONNACK)
        if (type === 8) {
          subscribers.add(socket)
          socket.write(Buffer.from([0x90, 3, packet[header], packet[header + 1], 0]))
        }
        if (type === 3) {
          const n = stats.published++
          if (n + 1 === pauseAfter) socket.pause()
          if ((packet[0] & 0x06) === 0x02 && ack(n)) {
            // The packet id follows the topic: two length bytes and the topic itself.
            const at = header + 2 + packet.readUInt16BE(header)
            socket.write(Buffer.from([0x40, 2, packet[at], packet[at + 1]]))
            stats.acked += 1
          }
          if (drop(n)) {
            stats.dropped += 1
            continue
          }
          const copies = duplicate(n) ? 2 : 1
          stats.duplicated += copies - 1
          for (const subscriber of subscribers) for (let c = 0; c < copies; c += 1) subscriber.write(packet)
          stats.forwarded += 1
          if (stats.forwarded === closeSubscribersAfter) {
            // end(), not destroy(): what was forwarded still arrives, then the connection closes.
            for (const subscriber of subscribers) subscriber.end()
            subscribers.clear()
          }
        }
        if (type === 14) socket.end()
      }
    })
    socket.on('error', () => {})
    socket.on('close', () => {
      subscribers.delete(socket)
      sockets.delete(socket)
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: server.address().port,
    stats,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(resolve)
      }),
  }
}
