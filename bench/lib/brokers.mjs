// How each target is started: FluxMQ, the reference brokers and the sink. A launcher returns a
// running deployment: one or more nodes (each a port and a pid), RSS by node, and stop().
// Scenarios name the node their publishers and subscribers use, so a multi-node FluxMQ
// scenario only needs a launcher that starts more than one node.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cpuSeconds, cpus, freePort, peakRssKiB, rssKiB, startChild, waitForPort } from './process.mjs'

export const BROKERS = ['fluxmq', 'mosquitto', 'aedes']
export const LABELS = { fluxmq: 'FluxMQ', mosquitto: 'Mosquitto', aedes: 'Aedes', sink: 'sink' }

/** The end of a node's log, for a failure note (the work directory is removed after the run). */
function tail(logFile) {
  return readFileSync(logFile, 'utf8').trim().slice(-600) || '(no output)'
}

/**
 * Starts one process per node with `argvFor(port, index, dataDir)`, waits until every node
 * listens. Every start gets empty data directories, removed when it stops: a repetition must not
 * resume the sessions and database of the one before (a persistent run leaves both behind).
 */
async function deploy(name, nodes, workDir, argvFor, env) {
  const started = []
  const dataDirs = []
  const removeData = () => dataDirs.splice(0).forEach((dir) => rmSync(dir, { recursive: true, force: true }))
  try {
    for (let index = 0; index < nodes; index += 1) {
      const port = await freePort()
      const logFile = join(workDir, `${name}-${index}.log`)
      const dataDir = mkdtempSync(join(workDir, `${name}-data-${index}-`))
      dataDirs.push(dataDir)
      const child = startChild(argvFor(port, index, dataDir), { cpu: cpus.broker, logFile, env })
      started.push({ port, pid: child.pid, child, logFile })
      await waitForPort(port, child)
    }
  } catch (error) {
    await Promise.all(started.map((node) => node.child.stop()))
    removeData()
    const logs = started.map((node) => tail(node.logFile)).join(' | ')
    throw new Error(`${LABELS[name]} did not start: ${error.message}: ${logs}`, { cause: error })
  }
  return {
    nodes: started.map(({ port, pid }) => ({ port, pid })),
    rssKiB: (index = 0) => rssKiB(started[index].pid),
    /** The largest peak RSS of any node since it started, in KiB. */
    peakRssKiB: () => Math.max(...started.map((node) => peakRssKiB(node.pid))),
    cpuSeconds: () => started.reduce((sum, node) => sum + cpuSeconds(node.pid), 0),
    running: () => started.every((node) => node.child.running),
    /** Resolves to the nodes whose process did not exit cleanly (code 0 or our SIGTERM), with their last log lines. */
    async stop() {
      const results = await Promise.all(started.map((node) => node.child.stop()))
      removeData()
      return results
        .map((result, index) => ({ ...result, node: index, logTail: tail(started[index].logFile) }))
        .filter(({ code, signal }) => !(code === 0 || signal === 'SIGTERM'))
    },
  }
}

/**
 * The arguments of one FluxMQ node after `node` and its flags: every listener but MQTT TCP off
 * (HTTP on `httpPort` when given), storage in `dataDir`. `defaults`: the shipped session queue
 * bound. `settings`: more `key=value` configuration, each passed as `--set`.
 */
export function fluxmqArgs({ root, port, httpPort, dataDir, storage, defaults = false, settings = [] }) {
  return [
    join(root, 'apps/broker/dist/bin.js'),
    ...['--set', `server.mqtt.tcp.addr=127.0.0.1:${port}`],
    ...['--set', `server.http.addr=${httpPort === undefined ? '' : `127.0.0.1:${httpPort}`}`],
    ...['--set', 'server.mqtt.websocket.addr=', '--set', 'server.amqp.addr='],
    ...['--set', 'log.level=warn', '--set', 'server.shutdown_timeout=5s'],
    // The closed-loop bench measures throughput, not the offline-queue cap: no message may be
    // dropped for room. A flood (`defaults`) runs with the shipped bound, as users do.
    ...(defaults ? [] : ['--set', 'session.max_offline_messages=100000000']),
    ...['--set', `storage.type=${storage}`, '--set', `storage.dir=${dataDir}`],
    ...settings.flatMap((setting) => ['--set', setting]),
  ]
}

/**
 * FluxMQ (fluxmqArgs); with `metrics`, its HTTP listener too, whose port each node of the
 * deployment then carries as `httpPort` (for /metrics). `nodeFlags` go to node before the script
 * (--fluxmq-node-flags).
 */
async function fluxmq({ root, workDir, storage, profileDir, profileName, nodes = 1, metrics = false, nodeFlags = [], defaults = false, settings = [] }) {
  if (nodes !== 1) throw new Error('multi-node FluxMQ needs the cluster launcher (clustering comes in its own issue)')
  const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${profileName}.cpuprofile`] : []
  const node = ['node', ...nodeFlags, ...profile]
  const httpPorts = metrics ? await Promise.all(Array.from({ length: nodes }, () => freePort())) : []
  const deployment = await deploy('fluxmq', nodes, workDir, (port, index, dataDir) => [
    ...node,
    ...fluxmqArgs({ root, port, httpPort: httpPorts[index], dataDir, storage, defaults, settings }),
  ])
  httpPorts.forEach((httpPort, index) => (deployment.nodes[index].httpPort = httpPort))
  return deployment
}

function mosquitto({ workDir, storage }) {
  return deploy('mosquitto', 1, workDir, (port, _index, dataDir) => {
    const config = join(workDir, `mosquitto-${port}.conf`)
    writeFileSync(
      config,
      [
        `listener ${port} 127.0.0.1`,
        'allow_anonymous true',
        // 0 = no maximum: by default Mosquitto drops QoS 1 messages beyond 1000 queued per client.
        'max_queued_messages 0',
        `persistence ${storage === 'memory' ? 'false' : 'true'}`,
        `persistence_location ${dataDir}/`,
        'log_dest stderr',
        'log_type error',
        'log_type warning',
        '',
      ].join('\n'),
    )
    return ['/usr/sbin/mosquitto', '-c', config]
  })
}

function aedes({ root, workDir }) {
  return deploy('aedes', 1, workDir, (port) => ['node', join(root, 'bench/brokers/aedes.mjs'), String(port)])
}

function sink({ root, workDir }) {
  return deploy('sink', 1, workDir, (port) => [join(root, 'bench/.build/sink'), String(port)])
}

const launchers = { fluxmq, mosquitto, aedes, sink }

/** Why `name` cannot run here, or null when it can. */
export function unavailable(name, root) {
  if (name === 'fluxmq' && !existsSync(join(root, 'apps/broker/dist/bin.js'))) return 'apps/broker/dist/bin.js is not built'
  if (name === 'mosquitto' && !existsSync('/usr/sbin/mosquitto')) return '/usr/sbin/mosquitto is not installed'
  if (name === 'aedes' && !existsSync(join(root, 'bench/node_modules/aedes'))) return 'aedes is not installed (pnpm install)'
  return null
}

/** What storage a target really uses when a scenario asks for `storage`, for the table's notes. */
export function storageUsed(name, storage) {
  if (name === 'aedes') return 'memory'
  if (name === 'mosquitto') return storage === 'memory' ? 'memory' : 'persistence file'
  return storage
}

export function launch(name, options) {
  return launchers[name](options)
}
