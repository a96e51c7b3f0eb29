import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ConfigError, ConfigErrorCode } from './errors.js'
import { ENV_NAMES, loadConfig } from './load.js'
import { renderConfig } from './print.js'

const dir = mkdtempSync(join(tmpdir(), 'fluxmq-config-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let fileCount = 0
function yamlFile(text: string): string {
  const file = join(dir, `config-${fileCount++}.yaml`)
  writeFileSync(file, text)
  return file
}

function configError(load: () => unknown): ConfigError {
  try {
    load()
  } catch (error) {
    if (error instanceof ConfigError) return error
    throw error
  }
  throw new Error('expected a ConfigError')
}

describe('defaults', () => {
  it('match SPEC §2 for every key', () => {
    expect(loadConfig().config).toEqual({
      server: {
        mqtt: {
          tcp: { addr: { host: '', port: 1883 }, max_connections: 0 },
          tls: { addr: null, cert_file: '', key_file: '', ca_file: '', client_auth: 'none' },
          websocket: { addr: { host: '', port: 8083 }, path: '/mqtt' },
        },
        amqp: { addr: { host: '', port: 5672 }, tls_addr: null },
        http: { addr: { host: '', port: 8081 }, token: '' },
        shutdown_timeout: 30_000,
      },
      broker: {
        max_packet_size: 1_048_576,
        max_qos: 2,
        retry_interval: 20_000,
        receive_maximum: 256,
        topic_alias_maximum: 64,
        server_keep_alive: 0,
        max_retained_messages: 0,
      },
      session: { max_offline_messages: 1000, offline_overflow: 'drop_oldest', default_expiry: 7_200_000, max_expiry: 0 },
      storage: { type: 'memory', dir: './data', sync: 'normal' },
      log: { level: 'info', format: 'auto' },
      auth: { allow_anonymous: true, password_file: '', acl_file: '' },
      limits: { connection_rate: 0, publish_rate: 0, connect_timeout: 10_000, max_write_buffer: 1_048_576, write_stall_timeout: 30_000, max_buffered_bytes: 67_108_864, max_subscriptions_per_client: 0 },
      queues: [],
      cluster: {
        enabled: false,
        name: 'fluxmq',
        node_id: '',
        etcd: {
          embedded: true,
          binary: 'etcd',
          data_dir: './data/etcd',
          client_addr: { host: '127.0.0.1', port: 2379 },
          peer_addr: { host: '127.0.0.1', port: 2380 },
          initial_cluster: '',
          endpoints: [],
          lease_ttl: 10_000,
          hybrid_retained_size_threshold: 1024,
        },
        transport: { addr: { host: '', port: 7948 }, advertise_addr: null, tls: { cert_file: '', key_file: '', ca_file: '' } },
        raft: { enabled: false, data_dir: './data/raft', write_policy: 'forward', distribution_mode: 'replicate' },
      },
    })
  })
})

/** SPEC §2's configuration block, verbatim: every key with its documented default. */
const SPEC_YAML = `
server:
  mqtt:
    tcp:       { addr: ":1883", max_connections: 0 }          # 0 = unlimited
    tls:       { addr: "", cert_file: "", key_file: "", ca_file: "", client_auth: none }  # none|request|require
    websocket: { addr: ":8083", path: "/mqtt" }
  amqp:        { addr: ":5672" }
  http:        { addr: ":8081", token: "" }
  shutdown_timeout: 30s
broker:
  max_packet_size: 1MiB        # inbound; the client's own Maximum Packet Size is honoured outbound
  max_qos: 2
  retry_interval: 20s          # QoS 1/2 redelivery to a connected client that has not acknowledged
  receive_maximum: 256         # advertised in CONNACK; our send window honours the client's value
  topic_alias_maximum: 64
  server_keep_alive: 0         # 0 = accept the client's value
  max_retained_messages: 0     # 0 = unlimited
session:
  max_offline_messages: 1000   # per session; policy below when full
  offline_overflow: drop_oldest  # drop_oldest | reject_new
  default_expiry: 2h           # for 3.1.1 clean_session=false sessions
  max_expiry: 0                # 0 = honour the client's value
storage:
  type: memory                 # memory | sqlite
  dir: ./data
  sync: normal                 # normal (survives a process crash) | full (survives power loss)
log: { level: info, format: auto }   # pino; auto = text on a terminal, json otherwise
auth:
  allow_anonymous: true
  password_file: ""            # lines "username:scrypt-hash"; \`fluxmq passwd\` writes them
  acl_file: ""                 # per-user and pattern topic rules, read/write/deny
limits:
  connection_rate: 0           # per listener per second, 0 = unlimited
  publish_rate: 0              # per client per second
  connect_timeout: 10s         # a socket that sends no CONNECT by then is closed
  max_write_buffer: 1MiB       # per connection write high-water: beyond it deliveries wait in the session queue
  write_stall_timeout: 30s     # a client whose socket accepts no bytes for this long is disconnected
  max_buffered_bytes: 64MiB    # whole process: above it the broker stops reading publishers until it drains
  max_subscriptions_per_client: 0  # 0 = unlimited
queues: []                     # see §4
cluster:
  enabled: false
  name: fluxmq
  node_id: ""                  # required when enabled; unique
  etcd:
    embedded: true             # start and supervise a local etcd member (binary \`etcd\` on PATH or etcd.binary)
    binary: etcd
    data_dir: ./data/etcd
    client_addr: "127.0.0.1:2379"
    peer_addr: "127.0.0.1:2380"
    initial_cluster: ""        # "n1=http://host:2380,n2=…"; empty = this node alone
    endpoints: []              # when embedded is false: external etcd cluster
    lease_ttl: 10s
    hybrid_retained_size_threshold: 1024
  transport:
    addr: ":7948"
    advertise_addr: ""         # what peers dial; defaults to 127.0.0.1:<port>
    tls: { cert_file: "", key_file: "", ca_file: "" }
  raft:
    enabled: false
    data_dir: ./data/raft
    write_policy: forward      # forward | reject | local
    distribution_mode: replicate  # replicate | forward
`

describe('config file', () => {
  it('loads SPEC §2\'s own YAML block to exactly the defaults', () => {
    expect(loadConfig({ file: yamlFile(SPEC_YAML) }).config).toEqual(loadConfig().config)
  })

  it('reads YAML with durations, sizes and addresses', () => {
    const file = yamlFile(`
server:
  mqtt:
    tcp: { addr: "127.0.0.1:11883", max_connections: 50 }
    websocket: { addr: "" }
  shutdown_timeout: 5s
broker:
  max_packet_size: 256KiB
session:
  default_expiry: 1h30m
log: { level: debug, format: text }
`)
    const { config } = loadConfig({ file })
    expect(config.server.mqtt.tcp).toEqual({ addr: { host: '127.0.0.1', port: 11883 }, max_connections: 50 })
    expect(config.server.mqtt.websocket.addr).toBeNull()
    expect(config.server.mqtt.websocket.path).toBe('/mqtt')
    expect(config.server.shutdown_timeout).toBe(5_000)
    expect(config.broker.max_packet_size).toBe(262_144)
    expect(config.session.default_expiry).toBe(5_400_000)
    expect(config.log).toEqual({ level: 'debug', format: 'text' })
  })

  it('accepts an empty file and empty sections', () => {
    expect(loadConfig({ file: yamlFile('') }).config).toEqual(loadConfig().config)
    expect(loadConfig({ file: yamlFile('server:\n  mqtt:\n    tls:\n') }).config).toEqual(loadConfig().config)
  })

  it('refuses an unknown key, naming its full path and suggesting the near one', () => {
    const file = yamlFile('server:\n  mqtt:\n    tcp:\n      adr: ":1"\n')
    const error = configError(() => loadConfig({ file }))
    expect(error.code).toBe(ConfigErrorCode.UnknownKey)
    expect(error.key).toBe('server.mqtt.tcp.adr')
    expect(error.message).toContain('unknown config key server.mqtt.tcp.adr')
    expect(error.message).toContain('did you mean server.mqtt.tcp.addr?')
    expect(error.message).toContain(file)
  })

  it('refuses a bad value, naming the key and the value', () => {
    const error = configError(() => loadConfig({ file: yamlFile('broker:\n  retry_interval: 20\n') }))
    expect(error.code).toBe(ConfigErrorCode.InvalidValue)
    expect(error.key).toBe('broker.retry_interval')
    expect(error.value).toBe(20)
    expect(error.message).toMatch(/^invalid value for broker\.retry_interval: 20 \(from .*\); expected a duration/)
  })

  it('refuses a scalar where a section belongs', () => {
    const error = configError(() => loadConfig({ file: yamlFile('server:\n  mqtt: 1883\n') }))
    expect(error.key).toBe('server.mqtt')
    expect(error.message).toContain('expected a mapping of keys')
  })

  it('refuses invalid YAML and duplicate keys with FLUXMQ_ERR_CONFIG_FILE', () => {
    expect(configError(() => loadConfig({ file: yamlFile('server: [\n') })).code).toBe(ConfigErrorCode.File)
    expect(configError(() => loadConfig({ file: yamlFile('log:\n  level: info\n  level: debug\n') })).code).toBe(ConfigErrorCode.File)
  })

  it('refuses a file whose top level is not a mapping, naming the file', () => {
    const list = yamlFile('- broker\n- log\n')
    const error = configError(() => loadConfig({ file: list }))
    expect(error.code).toBe(ConfigErrorCode.File)
    expect(error.message).toBe(`the config file must be a mapping of keys: ${list} holds a list (["broker","log"])`)
    const scalar = yamlFile('broker\n')
    expect(configError(() => loadConfig({ file: scalar })).message).toBe(`the config file must be a mapping of keys: ${scalar} holds a single value ("broker")`)
  })

  it.each([
    ['one line, which YAML reads as a single value', 'listener 1883\n'],
    ['several lines, which YAML refuses', '# mosquitto\nper_listener_settings false\nlistener 1883\nallow_anonymous false\npassword_file /etc/mosquitto/passwd\n'],
  ])('says that a mosquitto.conf (%s) is not YAML, with the fluxmq keys for its options and where every key is', (_shape, text) => {
    const file = yamlFile(text)
    const error = configError(() => loadConfig({ file }))
    expect(error.code).toBe(ConfigErrorCode.File)
    expect(error.message).toMatch(new RegExp(`^${file} looks like a mosquitto\\.conf; fluxmq reads a YAML file of its own keys`))
    expect(error.message).toContain('listener → server.mqtt.tcp.addr')
    expect(error.message).toMatch(/apps\/broker\/README\.md \(section "Keys"\)$/)
    if (text.includes('allow_anonymous')) expect(error.message).toContain('allow_anonymous → auth.allow_anonymous, password_file → auth.password_file')
  })

  it('refuses a missing file with FLUXMQ_ERR_CONFIG_FILE', () => {
    const error = configError(() => loadConfig({ file: join(dir, 'missing.yaml') }))
    expect(error.code).toBe(ConfigErrorCode.File)
    expect(error.message).toContain('missing.yaml')
  })

  it.each([
    ['broker:\n  max_qos: 3\n', 'broker.max_qos'],
    ['broker:\n  receive_maximum: 0\n', 'broker.receive_maximum'],
    ['broker:\n  max_packet_size: 1TiB\n', 'broker.max_packet_size'],
    ['storage:\n  type: postgres\n', 'storage.type'],
    ['session:\n  offline_overflow: drop_newest\n', 'session.offline_overflow'],
    ['auth:\n  allow_anonymous: yes\n', 'auth.allow_anonymous'],
    ['server:\n  mqtt:\n    tcp:\n      addr: 1883\n', 'server.mqtt.tcp.addr'],
    ['server:\n  mqtt:\n    tcp:\n      max_connections: -1\n', 'server.mqtt.tcp.max_connections'],
    ['server:\n  mqtt:\n    websocket:\n      path: mqtt\n', 'server.mqtt.websocket.path'],
    ['limits:\n  max_write_buffer: 10\n', 'limits.max_write_buffer'],
    ['cluster:\n  node_id: "a/b"\n', 'cluster.node_id'],
    ['cluster:\n  etcd:\n    endpoints: ["nohost"]\n', 'cluster.etcd.endpoints[0]'],
    ['cluster:\n  etcd:\n    initial_cluster: "n1"\n', 'cluster.etcd.initial_cluster'],
    ['cluster:\n  raft:\n    write_policy: maybe\n', 'cluster.raft.write_policy'],
  ])('refuses %j naming %s', (yaml, key) => {
    const error = configError(() => loadConfig({ file: yamlFile(yaml) }))
    expect(error.code).toBe(ConfigErrorCode.InvalidValue)
    expect(error.key).toBe(key)
    expect(error.message).toContain(key)
  })
})

describe('queues', () => {
  it('fills each queue from the queue defaults', () => {
    const file = yamlFile('queues:\n  - name: orders\n    topics: ["orders/#"]\n    retention: { max_age: 7d }\n  - { name: audit, type: stream }\n')
    const { config } = loadConfig({ file })
    expect(config.queues).toEqual([
      {
        name: 'orders',
        topics: ['orders/#'],
        type: 'classic',
        max_deliveries: 5,
        visibility_timeout: 30_000,
        retention: { max_age: 604_800_000, max_messages: 0, max_bytes: 0 },
        replication: { enabled: true },
      },
      expect.objectContaining({ name: 'audit', type: 'stream', topics: [] }),
    ])
  })

  it.each([
    ['queues:\n  - topics: ["a"]\n', 'queues[0].name'],
    ['queues:\n  - { name: a }\n  - { name: a }\n', 'queues[1].name'],
    ['queues:\n  - { name: a, topics: ["a/#/b"] }\n', 'queues[0].topics[0]'],
    ['queues:\n  - { name: a, retention: { max_age: forever } }\n', 'queues[0].retention.max_age'],
    ['queues: orders\n', 'queues'],
  ])('refuses %j naming %s', (yaml, key) => {
    const error = configError(() => loadConfig({ file: yamlFile(yaml) }))
    expect(error.code).toBe(ConfigErrorCode.InvalidValue)
    expect(error.key).toBe(key)
  })

  it('refuses an unknown key inside a queue with its path', () => {
    const error = configError(() => loadConfig({ file: yamlFile('queues:\n  - { name: a, max_delivery: 3 }\n') }))
    expect(error.code).toBe(ConfigErrorCode.UnknownKey)
    expect(error.key).toBe('queues[0].max_delivery')
    expect(error.message).toContain('did you mean queues[0].max_deliveries?')
  })

  it('takes a YAML flow list from --set', () => {
    const { config } = loadConfig({ sets: ['queues=[{name: q1, topics: [a/b]}]'] })
    expect(config.queues.map((queue) => [queue.name, queue.topics])).toEqual([['q1', ['a/b']]])
  })
})

describe('environment', () => {
  it('maps FLUXMQ_<KEY_PATH> names, underscores in key names included', () => {
    const { config } = loadConfig({
      env: {
        FLUXMQ_SERVER_MQTT_TCP_ADDR: '127.0.0.1:0',
        FLUXMQ_SERVER_MQTT_TCP_MAX_CONNECTIONS: '10',
        FLUXMQ_SESSION_MAX_OFFLINE_MESSAGES: '5',
        FLUXMQ_AUTH_ALLOW_ANONYMOUS: 'false',
        FLUXMQ_AUTH_PASSWORD_FILE: '/etc/fluxmq/passwd',
        FLUXMQ_CLUSTER_ETCD_ENDPOINTS: 'a:2379, b:2379',
        FLUXMQ_SERVER_AMQP_ADDR: '',
        PATH: '/bin',
      },
    })
    expect(config.server.mqtt.tcp).toEqual({ addr: { host: '127.0.0.1', port: 0 }, max_connections: 10 })
    expect(config.session.max_offline_messages).toBe(5)
    expect(config.auth.allow_anonymous).toBe(false)
    expect(config.auth.password_file).toBe('/etc/fluxmq/passwd')
    expect(config.cluster.etcd.endpoints).toEqual(['a:2379', 'b:2379'])
    expect(config.server.amqp.addr).toBeNull()
  })

  it('gives every key a distinct variable name', () => {
    const paths = [...ENV_NAMES.values()]
    expect(new Set(paths).size).toBe(paths.length)
    expect(ENV_NAMES.get('FLUXMQ_SERVER_MQTT_TCP_ADDR')).toBe('server.mqtt.tcp.addr')
    expect(ENV_NAMES.get('FLUXMQ_CLUSTER_ETCD_HYBRID_RETAINED_SIZE_THRESHOLD')).toBe('cluster.etcd.hybrid_retained_size_threshold')
  })

  it('stops on a FLUXMQ_ variable that names no key, naming the variable (SPEC §2: unknown keys stop start-up)', () => {
    const error = configError(() => loadConfig({ env: { FLUXMQ_FUZZ_SECONDS: '30' } }))
    expect(error.code).toBe('FLUXMQ_ERR_CONFIG_UNKNOWN_KEY')
    expect(error.source).toEqual({ kind: 'env', variable: 'FLUXMQ_FUZZ_SECONDS' })
    expect(error.message).toBe('environment variable FLUXMQ_FUZZ_SECONDS names no config key (FLUXMQ_* variables are configuration: unset it)')
    expect(configError(() => loadConfig({ env: { FLUXMQ_BROKER_MAX_QOS2: '1' } })).message).toContain('did you mean FLUXMQ_BROKER_MAX_QOS?')
  })

  it('ignores variables outside the FLUXMQ_ namespace', () => {
    expect(loadConfig({ env: { TEST_FUZZ_SECONDS: '30', FLUXMQ: 'x' } }).config.broker.max_qos).toBe(2)
  })

  it('refuses a bad value naming the variable and the key', () => {
    const error = configError(() => loadConfig({ env: { FLUXMQ_BROKER_MAX_QOS: 'two' } }))
    expect(error.key).toBe('broker.max_qos')
    expect(error.message).toContain('FLUXMQ_BROKER_MAX_QOS')
    expect(error.message).toContain('"two"')
  })
})

describe('--set', () => {
  it('sets any key by its dotted path; the value may contain "="', () => {
    const { config } = loadConfig({ sets: ['server.http.token=a=b', 'broker.max_qos=1', 'server.mqtt.websocket.addr='] })
    expect(config.server.http.token).toBe('a=b')
    expect(config.broker.max_qos).toBe(1)
    expect(config.server.mqtt.websocket.addr).toBeNull()
  })

  it('refuses an unknown key with a suggestion', () => {
    const error = configError(() => loadConfig({ sets: ['broker.max_qoss=1'] }))
    expect(error.code).toBe(ConfigErrorCode.UnknownKey)
    expect(error.message).toBe('unknown config key broker.max_qoss (from --set); did you mean broker.max_qos?')
  })

  it('refuses a section path', () => {
    const error = configError(() => loadConfig({ sets: ['server.mqtt.tcp=:1883'] }))
    expect(error.key).toBe('server.mqtt.tcp')
    expect(error.message).toContain('is a section')
  })

  it('refuses an argument without "="', () => {
    expect(configError(() => loadConfig({ sets: ['broker.max_qos'] })).code).toBe(ConfigErrorCode.SetSyntax)
  })
})

describe('precedence', () => {
  it('is defaults < file < environment < --set, later --set winning', () => {
    const file = yamlFile('broker:\n  max_qos: 1\n  receive_maximum: 10\n  topic_alias_maximum: 5\n')
    const { config } = loadConfig({
      file,
      env: { FLUXMQ_BROKER_RECEIVE_MAXIMUM: '20', FLUXMQ_BROKER_TOPIC_ALIAS_MAXIMUM: '6' },
      sets: ['broker.topic_alias_maximum=7', 'broker.topic_alias_maximum=8'],
    })
    expect(config.broker.max_qos).toBe(1)
    expect(config.broker.receive_maximum).toBe(20)
    expect(config.broker.topic_alias_maximum).toBe(8)
    expect(config.broker.retry_interval).toBe(20_000)
  })
})

describe('renderConfig', () => {
  it('prints YAML that loads back to the same config', () => {
    const { config } = loadConfig({ sets: ['queues=[{name: q, topics: [a/#]}]', 'server.mqtt.tcp.addr=[::1]:0', 'broker.max_packet_size=300KiB'] })
    const text = renderConfig(config)
    expect(text).toContain('max_packet_size: 300KiB')
    expect(text).toContain('shutdown_timeout: 30s')
    expect(loadConfig({ file: yamlFile(text) }).config).toEqual(config)
  })

  it('redacts the HTTP token', () => {
    const text = renderConfig(loadConfig({ sets: ['server.http.token=s3cret'] }).config)
    expect(text).not.toContain('s3cret')
    expect(text).toContain('token: <redacted>')
  })
})
