import { createServer } from 'node:tls'
import type { Clock, Logger } from '@fluxmq/core'
import type { TlsListenOptions } from '../options.js'
import { AdmissionGate } from './gate.js'
import type { Listener, StreamAcceptor } from './listener.js'
import { acceptThrough, closeServer, listen } from './tcp.js'

export async function listenTls(options: TlsListenOptions, acceptor: StreamAcceptor, clock: Clock, logger: Logger): Promise<Listener> {
  const gate = new AdmissionGate(options.maxConnections ?? 0, options.connectionRate ?? 0, clock, logger)
  const server = createServer(
    {
      cert: options.cert,
      key: options.key,
      ...(options.ca === undefined ? {} : { ca: options.ca }),
      // request: ask for a client certificate but accept clients without one (or with an untrusted one).
      requestCert: options.clientAuth !== 'none',
      rejectUnauthorized: options.clientAuth === 'require',
    },
    acceptThrough(gate, acceptor),
  )
  server.on('tlsClientError', (err, socket) => logger.debug({ err: err.message, remote: socket.remoteAddress }, 'TLS handshake failed'))
  const address = await listen(server, options, 'TLS')
  server.on('error', (err) => logger.error({ err, listener: 'tls' }, 'listener error'))
  return { address, close: () => closeServer(server) }
}
