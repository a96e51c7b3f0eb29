import { ConfigError, ConfigErrorCode } from './errors.js'
import type { FluxConfig } from './schema.js'
import { formatAddress } from './units.js'
import type { Address } from './units.js'

function conflict(key: string, message: string): ConfigError {
  return new ConfigError(ConfigErrorCode.Conflict, key, `${key}: ${message}`)
}

/**
 * Rules between keys, checked after every source is applied (so `--set` can repair a file).
 * Throws the first problem found.
 */
export function validateConfig(config: FluxConfig): void {
  const tls = config.server.mqtt.tls
  const certs = [tls.cert_file !== '', tls.key_file !== ''] as const
  if (certs[0] !== certs[1]) {
    throw conflict(certs[0] ? 'server.mqtt.tls.key_file' : 'server.mqtt.tls.cert_file', 'cert_file and key_file must be set together')
  }
  if (!certs[0]) {
    if (tls.addr !== null) throw conflict('server.mqtt.tls.addr', 'a TLS listener needs server.mqtt.tls.cert_file and key_file')
    if (tls.ca_file !== '') throw conflict('server.mqtt.tls.ca_file', 'set without server.mqtt.tls.cert_file and key_file')
    if (tls.client_auth !== 'none') throw conflict('server.mqtt.tls.client_auth', 'set without server.mqtt.tls.cert_file and key_file')
    if (config.server.amqp.tls_addr !== null) throw conflict('server.amqp.tls_addr', 'AMQPS needs server.mqtt.tls.cert_file and key_file')
  }
  // Verifying a required client certificate needs the CA that signed it.
  if (tls.client_auth === 'require' && tls.ca_file === '') throw conflict('server.mqtt.tls.ca_file', 'client_auth "require" needs a ca_file to verify client certificates')

  if (!config.auth.allow_anonymous && config.auth.password_file === '') {
    throw conflict('auth.password_file', 'auth.allow_anonymous is false but no password file is set: no client could connect')
  }

  checkPortClashes(config)
  if (config.cluster.enabled) validateCluster(config)
}

/** The TLS listener's address: its own, or the default port 8883 once certificates are given. */
export function tlsAddress(config: FluxConfig): Address | null {
  const tls = config.server.mqtt.tls
  if (tls.cert_file === '') return null
  return tls.addr ?? { host: '', port: 8883 }
}

/**
 * AMQPS uses the MQTT TLS certificate and is on only at an address given for it: turning on MQTT
 * TLS must not open a second TLS port nobody asked for. Without the certificate it is refused.
 */
export function amqpTlsAddress(config: FluxConfig): Address | null {
  return config.server.mqtt.tls.cert_file === '' ? null : config.server.amqp.tls_addr
}

function checkPortClashes(config: FluxConfig): void {
  const listeners: Array<[string, Address | null]> = [
    ['server.mqtt.tcp.addr', config.server.mqtt.tcp.addr],
    ['server.mqtt.tls.addr', tlsAddress(config)],
    ['server.mqtt.websocket.addr', config.server.mqtt.websocket.addr],
    ['server.amqp.addr', config.server.amqp.addr],
    ['server.amqp.tls_addr', amqpTlsAddress(config)],
    ['server.http.addr', config.server.http.addr],
  ]
  const seen = new Map<number, [string, Address]>()
  for (const [key, address] of listeners) {
    if (address === null || address.port === 0) continue
    const earlier = seen.get(address.port)
    // Same port on the same host, or on "every interface" and anything: the second bind would fail.
    if (earlier !== undefined && (earlier[1].host === address.host || earlier[1].host === '' || address.host === '')) {
      throw conflict(key, `${formatAddress(address)} clashes with ${earlier[0]} (${formatAddress(earlier[1])})`)
    }
    seen.set(address.port, [key, address])
  }
}

function validateCluster(config: FluxConfig): void {
  const cluster = config.cluster
  if (cluster.node_id === '') throw conflict('cluster.node_id', 'required when cluster.enabled is true')
  if (cluster.etcd.embedded) {
    if (cluster.etcd.client_addr === null) throw conflict('cluster.etcd.client_addr', 'required when cluster.etcd.embedded is true')
    if (cluster.etcd.peer_addr === null) throw conflict('cluster.etcd.peer_addr', 'required when cluster.etcd.embedded is true')
  } else if (cluster.etcd.endpoints.length === 0) {
    throw conflict('cluster.etcd.endpoints', 'required when cluster.etcd.embedded is false')
  }
  if (cluster.transport.addr === null) throw conflict('cluster.transport.addr', 'required when cluster.enabled is true')
}

/**
 * Valid settings for features this build does not have. They stop start-up rather than run a
 * broker that silently ignores what the operator asked for.
 */
export function checkSupported(config: FluxConfig): void {
  if (config.cluster.raft.enabled) {
    throw new ConfigError(ConfigErrorCode.Unsupported, 'cluster.raft.enabled', 'cluster.raft.enabled: Raft replication is not available in this build yet', true)
  }
}
