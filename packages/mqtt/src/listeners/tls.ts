import { createServer } from 'node:tls'
import type { Clock, Logger } from '@fluxmq/core'
import type { TlsListenOptions } from '../options.js'
import { AdmissionGate } from './gate.js'
import { remoteAddressOf } from './listener.js'
import type { Listener, StreamAcceptor } from './listener.js'
import { acceptThrough, closeServer, listen } from './tcp.js'

/** At most one handshake-failure line per interval per listener; the next line counts the rest. */
export const HANDSHAKE_FAILURE_LOG_INTERVAL_MS = 10_000

/**
 * Failed TLS handshakes are what an operator needs to see when a client "cannot connect" (an
 * untrusted certificate, plain MQTT on the TLS port, a missing client certificate), and also what
 * a port scanner produces by the thousand: so the first failure is logged at once with the peer
 * and the reason, and later ones at most once per interval, each line saying how many failures
 * it stands for since the previous one.
 */
class HandshakeFailureLog {
  private lastLoggedAt = Number.NEGATIVE_INFINITY
  private unlogged = 0

  constructor(
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /** OpenSSL errors carry their short text in `reason` ("wrong version number"); others only a message. */
  failed(error: Error & { code?: string; reason?: string }, remote: string | undefined): void {
    const now = this.clock.now()
    if (now - this.lastLoggedAt < HANDSHAKE_FAILURE_LOG_INTERVAL_MS) {
      this.unlogged += 1
      return
    }
    const fields = { remote, reason: error.reason ?? error.message.trim(), ...(error.code === undefined ? {} : { code: error.code }), failuresNotLogged: this.unlogged }
    this.logger.warn(fields, 'TLS handshake failed')
    this.lastLoggedAt = now
    this.unlogged = 0
  }
}

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
  const handshakeFailures = new HandshakeFailureLog(clock, logger)
  server.on('tlsClientError', (err, socket) => handshakeFailures.failed(err, remoteAddressOf(socket)))
  const address = await listen(server, options, 'TLS')
  server.on('error', (err) => logger.error({ err, listener: 'tls' }, 'listener error'))
  return { address, close: () => closeServer(server) }
}
