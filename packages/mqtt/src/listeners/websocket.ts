import { createServer } from 'node:http'
import type { Clock, Logger } from '@fluxmq/core'
import { WebSocketServer, createWebSocketStream } from 'ws'
import type { WebSocketListenOptions } from '../options.js'
import { AdmissionGate } from './gate.js'
import { remoteAddressOf } from './listener.js'
import type { Listener, StreamAcceptor } from './listener.js'
import { closeServer, listen } from './tcp.js'

/** MQTT over WebSocket: subprotocol "mqtt" (also the old "mqttv3.1"), binary frames only (§6). */
const SUBPROTOCOLS = ['mqtt', 'mqttv3.1']

/**
 * `maxPacketSize` bounds WebSocket frames too: ws buffers a whole frame before our parser sees a
 * byte of it, so its 100 MiB default would bypass broker.max_packet_size. Two packets' worth
 * leaves room for clients that put more than one packet in a frame.
 */
export async function listenWebSocket(options: WebSocketListenOptions, acceptor: StreamAcceptor, clock: Clock, logger: Logger, maxPacketSize: number): Promise<Listener> {
  const gate = new AdmissionGate(options.maxConnections ?? 0, options.connectionRate ?? 0, clock, logger)
  const http = createServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket: upgrade required\n')
  })
  const wss = new WebSocketServer({
    server: http,
    path: options.path,
    maxPayload: 2 * maxPacketSize,
    handleProtocols: (protocols) => SUBPROTOCOLS.find((p) => protocols.has(p)) ?? false,
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
