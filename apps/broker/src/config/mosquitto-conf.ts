import { KEY_REFERENCE } from '../reference.js'
import { ConfigError, ConfigErrorCode } from './errors.js'

/** mosquitto.conf options and the fluxmq key that does the same job. */
const EQUIVALENT: Readonly<Record<string, string>> = {
  listener: 'server.mqtt.tcp.addr (tls.addr, websocket.addr)',
  port: 'server.mqtt.tcp.addr',
  bind_address: 'server.mqtt.tcp.addr',
  protocol: 'server.mqtt.websocket.addr',
  max_connections: 'server.mqtt.tcp.max_connections',
  certfile: 'server.mqtt.tls.cert_file',
  keyfile: 'server.mqtt.tls.key_file',
  cafile: 'server.mqtt.tls.ca_file',
  require_certificate: 'server.mqtt.tls.client_auth',
  allow_anonymous: 'auth.allow_anonymous',
  password_file: 'auth.password_file',
  acl_file: 'auth.acl_file',
  persistence: 'storage.type: sqlite',
  persistence_location: 'storage.dir',
  max_keepalive: 'broker.server_keep_alive',
  max_packet_size: 'broker.max_packet_size',
  max_queued_messages: 'session.max_offline_messages',
  persistent_client_expiration: 'session.max_expiry',
  log_type: 'log.level',
}

/** Options that only mosquitto.conf has: enough, with the ones above, to recognise the file. */
const MOSQUITTO_ONLY = new Set(['per_listener_settings', 'log_dest', 'persistence_file', 'autosave_interval', 'connection_messages', 'include_dir', 'user', 'pid_file', 'sys_interval', 'max_inflight_messages', 'message_size_limit', 'retain_available', 'allow_zero_length_clientid', 'use_username_as_clientid', 'tls_version', 'set_tcp_nodelay', 'socket_domain', 'http_dir', 'psk_file', 'plugin', 'auth_plugin'])

/**
 * A config file that is not a YAML mapping but reads as mosquitto.conf (`option value` lines):
 * the error says so and names the fluxmq keys for the options it holds, instead of YAML's own
 * complaint about the first line. Undefined when the file does not look like one.
 */
export function mosquittoConfError(file: string, text: string): ConfigError | undefined {
  const options = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => /^([a-z_]+)(\s|$)/.exec(line)?.[1])
  const known = options.filter((option): option is string => option !== undefined && (option in EQUIVALENT || MOSQUITTO_ONLY.has(option)))
  if (known.length === 0) return undefined
  const equivalents = [...new Set(known)].filter((option) => option in EQUIVALENT).map((option) => `${option} → ${EQUIVALENT[option]}`)
  const mapping = equivalents.length === 0 ? '' : `; its options here are ${equivalents.join(', ')}`
  return new ConfigError(
    ConfigErrorCode.File,
    '',
    `${file} looks like a mosquitto.conf; fluxmq reads a YAML file of its own keys, nested as "fluxmq check-config" prints them${mapping}; every key: ${KEY_REFERENCE}`,
    undefined,
    { kind: 'file', path: file },
  )
}
