import { createServer } from 'node:net'
import type { AddressInfo, Server, Socket } from 'node:net'
import type { Clock, Logger } from '@fluxmq/core'
import { MqttListenError } from '../errors.js'
import type { ListenOptions } from '../options.js'
import { AdmissionGate } from './gate.js'
import { remoteAddressOf } from './listener.js'
import type { Listener, StreamAcceptor } from './listener.js'

/** Accepts sockets through the gate and hands them on; shared by the TCP and TLS listeners. */
export function acceptThrough(gate: AdmissionGate, acceptor: StreamAcceptor) {
  return (socket: Socket): void => {
    const remote = remoteAddressOf(socket)
    const decision = gate.admit(remote)
    if (decision === 'reject') {
      socket.destroy()
      return
    }
    gate.opened(socket)
    // Packets are batched per tick already; Nagle would only add latency.
    socket.setNoDelay(true)
    acceptor.accept(socket, remote, decision)
  }
}

/** Starts `server` on host:port; resolves with the bound address. */
export function listen(server: Server, options: ListenOptions, kind: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(new MqttListenError(`${kind} listener on ${options.host}:${options.port} failed: ${err.message}`, { cause: err }))
    server.once('error', onError)
    server.listen(options.port, options.host, () => {
      server.off('error', onError)
      resolve(server.address() as AddressInfo)
    })
  })
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()))
}

export async function listenTcp(options: ListenOptions, acceptor: StreamAcceptor, clock: Clock, logger: Logger): Promise<Listener> {
  const gate = new AdmissionGate(options.maxConnections ?? 0, options.connectionRate ?? 0, clock, logger)
  const server = createServer(acceptThrough(gate, acceptor))
  const address = await listen(server, options, 'TCP')
  server.on('error', (err) => logger.error({ err, listener: 'tcp' }, 'listener error'))
  return { address, close: () => closeServer(server) }
}
