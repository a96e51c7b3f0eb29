import { describe, expect, it } from 'vitest'
import { ConfigError, ConfigErrorCode } from './errors.js'
import { loadConfig } from './load.js'
import { amqpTlsAddress, checkSupported, tlsAddress, validateConfig } from './validate.js'

function failure(sets: string[], check = validateConfig): ConfigError {
  const { config } = loadConfig({ sets })
  try {
    check(config)
  } catch (error) {
    if (error instanceof ConfigError) return error
    throw error
  }
  throw new Error('expected a ConfigError')
}

describe('validateConfig', () => {
  it('accepts the defaults', () => {
    const { config } = loadConfig()
    expect(() => validateConfig(config)).not.toThrow()
    expect(() => checkSupported(config)).not.toThrow()
  })

  it.each([
    [['server.mqtt.tls.cert_file=c.pem'], 'server.mqtt.tls.key_file'],
    [['server.mqtt.tls.key_file=k.pem'], 'server.mqtt.tls.cert_file'],
    [['server.mqtt.tls.addr=:8883'], 'server.mqtt.tls.addr'],
    [['server.amqp.tls_addr=:5671'], 'server.amqp.tls_addr'],
    [['server.mqtt.tls.ca_file=ca.pem'], 'server.mqtt.tls.ca_file'],
    [['server.mqtt.tls.client_auth=request'], 'server.mqtt.tls.client_auth'],
    [['server.mqtt.tls.cert_file=c', 'server.mqtt.tls.key_file=k', 'server.mqtt.tls.client_auth=require'], 'server.mqtt.tls.ca_file'],
    [['auth.allow_anonymous=false'], 'auth.password_file'],
    [['server.http.addr=:1883'], 'server.http.addr'],
    [['server.mqtt.websocket.addr=127.0.0.1:1883'], 'server.mqtt.websocket.addr'],
    [['server.amqp.addr=:1883'], 'server.amqp.addr'],
    [['server.mqtt.tls.cert_file=c', 'server.mqtt.tls.key_file=k', 'server.http.addr=:8883'], 'server.http.addr'],
    [['cluster.enabled=true'], 'cluster.node_id'],
    [['cluster.enabled=true', 'cluster.node_id=n1', 'cluster.etcd.client_addr='], 'cluster.etcd.client_addr'],
    [['cluster.enabled=true', 'cluster.node_id=n1', 'cluster.etcd.embedded=false'], 'cluster.etcd.endpoints'],
  ])('refuses %j naming %s', (sets, key) => {
    const error = failure(sets)
    expect(error.code).toBe(ConfigErrorCode.Conflict)
    expect(error.key).toBe(key)
    expect(error.message.startsWith(`${key}: `)).toBe(true)
  })

  it('allows the same port on two different hosts, and port 0 anywhere', () => {
    const { config } = loadConfig({ sets: ['server.mqtt.tcp.addr=127.0.0.1:1883', 'server.http.addr=127.0.0.2:1883', 'server.mqtt.websocket.addr=:0', 'server.amqp.addr=:0'] })
    expect(() => validateConfig(config)).not.toThrow()
  })
})

describe('tlsAddress', () => {
  it('is off without certificates and ":8883" with them unless an address is given', () => {
    expect(tlsAddress(loadConfig().config)).toBeNull()
    expect(tlsAddress(loadConfig({ sets: ['server.mqtt.tls.cert_file=c', 'server.mqtt.tls.key_file=k'] }).config)).toEqual({ host: '', port: 8883 })
    expect(tlsAddress(loadConfig({ sets: ['server.mqtt.tls.cert_file=c', 'server.mqtt.tls.key_file=k', 'server.mqtt.tls.addr=127.0.0.1:0'] }).config)).toEqual({ host: '127.0.0.1', port: 0 })
  })
})

describe('amqpTlsAddress', () => {
  it('is off unless an address is given, even with the MQTT TLS certificate', () => {
    const certs = ['server.mqtt.tls.cert_file=c', 'server.mqtt.tls.key_file=k']
    expect(amqpTlsAddress(loadConfig({ sets: certs }).config)).toBeNull()
    expect(amqpTlsAddress(loadConfig({ sets: [...certs, 'server.amqp.tls_addr=:5671'] }).config)).toEqual({ host: '', port: 5671 })
  })
})

describe('checkSupported', () => {
  it('accepts cluster.enabled and stops on cluster.raft.enabled with a clear message', () => {
    expect(() => checkSupported(loadConfig({ sets: ['cluster.enabled=true', 'cluster.node_id=n1'] }).config)).not.toThrow()
    const error = failure(['cluster.enabled=true', 'cluster.node_id=n1', 'cluster.raft.enabled=true'], checkSupported)
    expect(error.code).toBe(ConfigErrorCode.Unsupported)
    expect(error.message).toBe('cluster.raft.enabled: Raft replication is not available in this build yet')
  })

  it('accepts configured queues (durable queues are in this build)', () => {
    expect(() => checkSupported(loadConfig({ sets: ['queues=[{name: q}]'] }).config)).not.toThrow()
  })
})
