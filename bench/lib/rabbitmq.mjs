// RabbitMQ as the AMQP reference broker: Debian's rabbitmq-server (3.10 in bookworm, where AMQP 1.0
// is the rabbitmq_amqp1_0 plugin; 4.x would speak it natively), with rabbitmq_mqtt for the
// AMQP → MQTT scenario. Each start is a private node: its own name, ports, Erlang cookie (HOME),
// data and log directories under the run's work directory, and its own epmd on a free port, started
// and stopped here by pid so nothing outlives the run.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export const RABBITMQ_SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server'
const RABBITMQ_LIB = '/usr/lib/rabbitmq/lib'

/** Installs Debian's rabbitmq-server when it is missing (root only); its service is never started. */
export function ensureRabbitmq() {
  if (existsSync(RABBITMQ_SERVER)) return
  if (process.getuid?.() !== 0) {
    console.error('rabbitmq-server is not installed (apt-get install rabbitmq-server as root)')
    return
  }
  console.error('installing rabbitmq-server (apt-get)')
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  spawnSync('sh', ['-c', 'apt-get update -qq >/dev/null && apt-get install -y -qq rabbitmq-server >/dev/null'], { stdio: 'inherit', env })
}

/** "3.10.8", from the installed server's directory name, or null. */
export function rabbitmqVersion() {
  if (!existsSync(RABBITMQ_LIB)) return null
  const dir = readdirSync(RABBITMQ_LIB).find((name) => name.startsWith('rabbitmq_server-'))
  return dir ? dir.slice('rabbitmq_server-'.length) : null
}

/** Plugins this version needs for AMQP 1.0 and MQTT. */
function plugins(version) {
  const major = Number(version?.split('.')[0] ?? 3)
  return major >= 4 ? ['rabbitmq_mqtt'] : ['rabbitmq_amqp1_0', 'rabbitmq_mqtt']
}

/**
 * Files and environment for one node in `dataDir`: AMQP on `amqpPort` (AMQP 1.0 shares the AMQP
 * port), MQTT on `mqttPort`, Erlang distribution on `distPort`, epmd on `epmdPort`. Guest may log
 * in over loopback (SASL ANONYMOUS maps to it); only warnings are logged, to the console.
 */
export function rabbitmqNode({ dataDir, amqpPort, mqttPort, distPort, epmdPort }) {
  const home = join(dataDir, 'home')
  mkdirSync(home, { recursive: true })
  const config = join(dataDir, 'rabbitmq.conf')
  writeFileSync(
    config,
    [
      `listeners.tcp.default = 127.0.0.1:${amqpPort}`,
      `mqtt.listeners.tcp.default = 127.0.0.1:${mqttPort}`,
      'loopback_users = none',
      'log.console = true',
      'log.console.level = warning',
      'log.file = false',
      '',
    ].join('\n'),
  )
  const enabledPlugins = join(dataDir, 'enabled_plugins')
  writeFileSync(enabledPlugins, `[${plugins(rabbitmqVersion()).join(',')}].\n`)
  return {
    argv: [RABBITMQ_SERVER],
    env: {
      HOME: home,
      RABBITMQ_NODENAME: `bench${amqpPort}@localhost`,
      // No /etc/rabbitmq/rabbitmq-env.conf: the machine's settings must not reach the bench node.
      RABBITMQ_CONF_ENV_FILE: join(dataDir, 'no-rabbitmq-env.conf'),
      RABBITMQ_CONFIG_FILE: config,
      RABBITMQ_ENABLED_PLUGINS_FILE: enabledPlugins,
      RABBITMQ_MNESIA_BASE: join(dataDir, 'mnesia'),
      RABBITMQ_LOG_BASE: join(dataDir, 'log'),
      RABBITMQ_DIST_PORT: String(distPort),
      ERL_EPMD_PORT: String(epmdPort),
    },
  }
}

/**
 * The Erlang VM under the rabbitmq-server script (a shell that starts it as a child and turns
 * SIGTERM into a clean stop): its pid is the one whose CPU time and RSS are the broker's.
 */
export function beamPid(scriptPid) {
  const children = (pid) => {
    try {
      return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
    } catch {
      return []
    }
  }
  const queue = [scriptPid]
  for (let steps = 0; queue.length > 0 && steps < 100; steps += 1) {
    const pid = queue.shift()
    let comm = ''
    try {
      comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim()
    } catch {
      continue
    }
    if (comm.startsWith('beam')) return pid
    queue.push(...children(pid))
  }
  return null
}
