import { configSchema } from '../config/schema.js'
import { leafPaths } from '../config/section.js'
import { KEY_REFERENCE } from '../reference.js'

/** The keys a first configuration touches, in the order --help lists them, with what they do. */
const MAIN_KEYS: ReadonlyArray<readonly [path: string, meaning: string]> = [
  ['server.mqtt.tcp.addr', 'MQTT over TCP (3.1.1 and 5.0); "" disables any listener'],
  ['server.mqtt.tls.cert_file', 'PEM certificate: with key_file, MQTT over TLS on :8883'],
  ['server.mqtt.tls.key_file', 'PEM private key of the TLS listener'],
  ['server.mqtt.websocket.addr', 'MQTT over WebSocket'],
  ['server.mqtt.websocket.path', 'its HTTP path'],
  ['server.http.addr', '/health, /ready, /metrics and the admin API'],
  ['storage.type', 'memory, or sqlite to keep sessions and messages across restarts'],
  ['storage.dir', 'where sqlite keeps fluxmq.db'],
  ['auth.allow_anonymous', 'false needs auth.password_file'],
  ['auth.password_file', 'users, written by "fluxmq passwd"'],
  ['auth.acl_file', 'topic rules (mosquitto\'s ACL format)'],
  ['log.level', 'trace, debug, info, warn, error, fatal or silent'],
  ['log.format', 'auto (text on a terminal, JSON otherwise), text or json'],
]

function showDefault(value: unknown): string {
  if (value === '') return '""'
  return typeof value === 'string' ? value : JSON.stringify(value)
}

function mainKeys(): string {
  const leaves = new Map(leafPaths(configSchema))
  const rows = MAIN_KEYS.map(([path, meaning]) => {
    const leaf = leaves.get(path)
    if (leaf === undefined) throw new Error(`--help names ${path}, which is not a configuration key`)
    return [path, showDefault(leaf.format(leaf.default)), meaning] as const
  })
  const pathWidth = Math.max(...rows.map(([path]) => path.length))
  const defaultWidth = Math.max(...rows.map(([, value]) => value.length))
  return rows.map(([path, value, meaning]) => `  ${path.padEnd(pathWidth)}  ${value.padEnd(defaultWidth)}  ${meaning}`).join('\n')
}

export const USAGE = `Usage:
  fluxmq [--config FILE.yaml] [--set key.path=value]...   run the broker
  fluxmq check-config [--config FILE.yaml] [--set k=v]...  validate and print the effective config
  fluxmq passwd FILE USERNAME [--password P | --delete]    add, change or remove a user in a password file
                                                           (the password is read from stdin without --password)
  fluxmq ctl [--url URL] [--token T] [--json] COMMAND    ask a running node (its HTTP admin API)
      status                   health, readiness and the node (exit 1 when not ready)
      sessions [--limit N] [--offset N]   session CLIENT_ID
      subscriptions [--limit N] [--offset N]
      nodes | cluster | queues | queue NAME
      amqp                     AMQP connections and their links
    The URL and token default to server.http.addr and server.http.token of the
    configuration (--config, environment, --set), e.g. http://127.0.0.1:8081.
  fluxmq --help | --version

Options:
  -c, --config FILE     YAML configuration file
  -s, --set KEY=VALUE   override one key (repeatable), e.g. --set server.mqtt.tcp.addr=:1884
  -p, --port PORT       the MQTT TCP port (as in mosquitto), same as --set server.mqtt.tcp.addr=:PORT
  -h, --help            show this text
  -v, --version         print the version

Main configuration keys (default, meaning):
${mainKeys()}

Every key can also be set with an environment variable FLUXMQ_<KEY_PATH>, e.g.
FLUXMQ_SERVER_MQTT_TCP_ADDR=:1884. Precedence: defaults < --config < environment < --set.
A --config file is YAML with the same keys nested ("storage:", then "  type: sqlite" below it).
"fluxmq check-config" prints every key with its effective value. The full reference, every
key with its default and meaning: ${KEY_REFERENCE}.
Exit codes: 0 success, 1 runtime failure, 2 bad usage or configuration.
`
