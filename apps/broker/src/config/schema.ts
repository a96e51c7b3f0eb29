import { ValueProblem, address, bool, duration, int, oneOf, size, string, stringList } from './leaves.js'
import { objectList } from './section.js'
import type { ConfigOf } from './section.js'
import { checkTopicFilter } from '../topic-filter.js'

/** MQTT's largest possible packet: a 4-byte Remaining Length of 268,435,455 plus the fixed header. */
const MQTT_MAX_PACKET = 268_435_460
/** Session Expiry Interval is a four-byte number of seconds [MQTT-3.1.2-11 ff]. */
const MAX_EXPIRY_MS = 0xffff_ffff * 1000
const NAME = /^[A-Za-z0-9._-]+$/
const NAME_TEXT = 'letters, digits, ".", "_" or "-"'
const INITIAL_CLUSTER = /^[A-Za-z0-9._-]+=https?:\/\/[^,=\s]+(,[A-Za-z0-9._-]+=https?:\/\/[^,=\s]+)*$/

const queueItem = {
  name: string('', { pattern: NAME, expected: `a queue name of ${NAME_TEXT}` }),
  topics: stringList({ item: checkTopicFilter, itemExpected: 'a valid MQTT topic filter' }),
  type: oneOf('classic', ['classic', 'stream']),
  max_deliveries: int(5, 1),
  visibility_timeout: duration('30s', 1),
  retention: {
    max_age: duration(0),
    max_messages: int(0),
    max_bytes: size(0),
  },
  replication: {
    enabled: bool(true),
  },
}

/**
 * Every key of SPEC §2, with its default. Defaults are written as an operator would write them
 * and parsed by the same code as user values. Ranges follow the protocol where it has one.
 */
export const configSchema = {
  server: {
    mqtt: {
      tcp: {
        addr: address(':1883', 'disabled'),
        max_connections: int(0),
      },
      tls: {
        // Empty: TLS is on (":8883") only when cert_file and key_file are set. See README.
        addr: address('', 'disabled, or ":8883" when cert_file and key_file are set'),
        cert_file: string(''),
        key_file: string(''),
        ca_file: string(''),
        client_auth: oneOf('none', ['none', 'request', 'require']),
      },
      websocket: {
        addr: address(':8083', 'disabled'),
        path: string('/mqtt', { pattern: /^\/[^\s?#]*$/, expected: 'a URL path starting with "/"' }),
      },
    },
    amqp: {
      addr: address(':5672', 'disabled'),
      // AMQPS with the certificate of server.mqtt.tls; off unless an address is given (e.g. ":5671").
      tls_addr: address('', 'disabled'),
    },
    http: {
      addr: address(':8081', 'disabled'),
      token: string(''),
    },
    shutdown_timeout: duration('30s'),
  },
  broker: {
    max_packet_size: size('1MiB', 64, MQTT_MAX_PACKET),
    max_qos: int(2, 0, 2),
    retry_interval: duration('20s', 100),
    receive_maximum: int(256, 1, 65_535),
    topic_alias_maximum: int(64, 0, 65_535),
    server_keep_alive: int(0, 0, 65_535),
    max_retained_messages: int(0),
  },
  session: {
    max_offline_messages: int(1000, 1),
    offline_overflow: oneOf('drop_oldest', ['drop_oldest', 'reject_new']),
    default_expiry: duration('2h', 0, MAX_EXPIRY_MS),
    max_expiry: duration(0, 0, MAX_EXPIRY_MS),
  },
  storage: {
    type: oneOf('memory', ['memory', 'sqlite']),
    dir: string('./data'),
    sync: oneOf('normal', ['normal', 'full']),
  },
  log: {
    level: oneOf('info', ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']),
    format: oneOf('auto', ['auto', 'json', 'text']),
  },
  auth: {
    allow_anonymous: bool(true),
    password_file: string(''),
    acl_file: string(''),
  },
  limits: {
    connection_rate: int(0),
    publish_rate: int(0),
    connect_timeout: duration('10s', 100),
    // A connection's credit: beyond it deliveries wait in the session's queue (not a disconnect).
    max_write_buffer: size('1MiB', 1024),
    // 0 = never: a client whose socket accepts no byte for this long is disconnected.
    write_stall_timeout: duration('30s', 0),
    // 0 = unbounded: above it the broker stops reading publishers until it drains.
    max_buffered_bytes: size('64MiB', 0),
    max_subscriptions_per_client: int(0),
  },
  queues: objectList(queueItem, {
    expected: 'a list of queues [{name, topics, type, max_deliveries, visibility_timeout, retention, replication}]',
    check: (queue) => (queue.name === '' ? new ValueProblem('invalid', 'a queue name (required)', 'name', '') : undefined),
    checkList: (queues) => {
      const seen = new Set<string>()
      for (const [index, queue] of queues.entries()) {
        if (seen.has(queue.name)) return new ValueProblem('invalid', 'a queue name not used by another queue', `[${index}].name`, queue.name)
        seen.add(queue.name)
      }
      return undefined
    },
  }),
  cluster: {
    enabled: bool(false),
    name: string('fluxmq', { pattern: NAME, expected: `a cluster name of ${NAME_TEXT}` }),
    node_id: string('', { pattern: NAME, expected: `a node id of ${NAME_TEXT}` }),
    etcd: {
      embedded: bool(true),
      binary: string('etcd'),
      data_dir: string('./data/etcd'),
      client_addr: address('127.0.0.1:2379', 'required when etcd.embedded'),
      peer_addr: address('127.0.0.1:2380', 'required when etcd.embedded'),
      initial_cluster: string('', { pattern: INITIAL_CLUSTER, expected: '"n1=http://host:2380,n2=http://host:2380" or "" (this node alone)' }),
      endpoints: stringList({ item: (text) => (/^(https?:\/\/)?[^\s/]+:\d{1,5}$/.test(text) ? undefined : 'an etcd endpoint "host:port" or "http(s)://host:port"'), itemExpected: 'an etcd endpoint' }),
      lease_ttl: duration('10s', 1000),
      hybrid_retained_size_threshold: size(1024),
    },
    transport: {
      addr: address(':7948', 'disabled'),
      advertise_addr: address('', 'defaults to 127.0.0.1:<transport port>'),
      tls: {
        cert_file: string(''),
        key_file: string(''),
        ca_file: string(''),
      },
    },
    raft: {
      enabled: bool(false),
      data_dir: string('./data/raft'),
      write_policy: oneOf('forward', ['forward', 'reject', 'local']),
      distribution_mode: oneOf('replicate', ['replicate', 'forward']),
    },
  },
}

export type FluxConfig = ConfigOf<typeof configSchema>
export type QueueConfig = FluxConfig['queues'][number]
