import { STATUS_CODES, createServer } from 'node:http'
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Clock, Logger } from '@fluxmq/core'
import { WebSocketServer, createWebSocketStream } from 'ws'
import type { WebSocketListenOptions } from '../options.js'
import { AdmissionGate } from './gate.js'
import { remoteAddressOf } from './listener.js'
import type { Listener, StreamAcceptor } from './listener.js'
import { closeServer, listen } from './tcp.js'

/** MQTT over WebSocket: subprotocol "mqtt" (also the old "mqttv3.1"), binary frames only (§6). */
const SUBPROTOCOLS = ['mqtt', 'mqttv3.1']

/** The request's path without its query: what the configured path is compared with. */
function pathOf(request: IncomingMessage): string {
  const url = request.url ?? '/'
  const query = url.indexOf('?')
  return query === -1 ? url : url.slice(0, query)
}

/** Answers a WebSocket handshake on a path we do not serve the way plain HTTP is answered: 404. */
function refuseUpgrade(socket: Duplex): void {
  socket.end(`HTTP/1.1 404 ${STATUS_CODES[404]}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nnot found\n`)
}

/**
 * Only the configured path speaks MQTT: there a plain HTTP request is told to upgrade (426),
 * anywhere else it gets 404 like any web server, so a probe or a browser learns that the path is
 * wrong rather than that it forgot to upgrade.
 *
 * `maxPacketSize` bounds WebSocket frames too: ws buffers a whole frame before our parser sees a
 * byte of it, so its 100 MiB default would bypass broker.max_packet_size. Two packets' worth
 * leaves room for clients that put more than one packet in a frame.
 */
export async function listenWebSocket(options: WebSocketListenOptions, acceptor: StreamAcceptor, clock: Clock, logger: Logger, maxPacketSize: number): Promise<Listener> {
  const gate = new AdmissionGate(options.maxConnections ?? 0, options.connectionRate ?? 0, clock, logger)
  const http = createServer((req, res) => {
    if (pathOf(req) !== options.path) res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
    else res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket: upgrade required\n')
  })
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: 2 * maxPacketSize,
    handleProtocols: (protocols) => SUBPROTOCOLS.find((p) => protocols.has(p)) ?? false,
  })
  http.on('upgrade', (req, socket, head) => {
    if (pathOf(req) !== options.path) return refuseUpgrade(socket)
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))
  })
  wss.on('connection', (ws, req) => {
    const remote = remoteAddressOf(req.socket)
    const decision = gate.admit(remote)
    if (decision === 'reject') {
      ws.terminate()
      return
    }
    gate.opened(ws)
    const stream = createWebSocketStream(ws)
    acceptor.accept(stream, remote, decision)
  })
  wss.on('error', (err) => logger.error({ err, listener: 'websocket' }, 'listener error'))
  const address = await listen(http, options, 'WebSocket')
  return {
    address,
    close: async () => {
      wss.close()
      await closeServer(http)
    },
  }
}
