// How each target is started: FluxMQ, the reference brokers and the sink. A launcher returns a
// running deployment: one or more nodes (each a port and a pid), RSS by node, and stop().
// Scenarios name the node their publishers and subscribers use, so a multi-node FluxMQ
// scenario only needs a launcher that starts more than one node.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cpuSeconds, cpus, freePort, peakRssKiB, rssKiB, startChild, waitForPort } from './process.mjs'
import { RABBITMQ_SERVER, beamPid, rabbitmqNode } from './rabbitmq.mjs'

export const BROKERS = ['fluxmq', 'mosquitto', 'aedes', 'rabbitmq']
export const LABELS = { fluxmq: 'FluxMQ', mosquitto: 'Mosquitto', aedes: 'Aedes', rabbitmq: 'RabbitMQ', sink: 'sink' }

/** The end of a node's log, for a failure note (the work directory is removed after the run). */
function tail(logFile) {
  return readFileSync(logFile, 'utf8').trim().slice(-600) || '(no output)'
}

/**
 * Starts one process per node with `argvFor(port, index, dataDir)` (an argv, or { argv, env }),
 * waits until every node listens. Every start gets empty data directories, removed when it stops:
 * a repetition must not resume the sessions and database of the one before (a persistent run
 * leaves both behind). `ready(node, child, index)`, when given, runs once a node listens on `port`: it may
 * wait for more ports, add fields to the node and replace its pid with the process that is the
 * broker (whose CPU time and RSS are measured) when `child` is a wrapper. `startMs` bounds the
 * wait for `port` (20 s unless given). `together`: every node is started before any is waited for
 * (cluster members: none listens before its etcd cluster has a quorum); `allReady()` then runs once.
 */
async function deploy(name, nodes, workDir, argvFor, { env, ready, startMs, together = false, allReady } = {}) {
  const started = []
  const dataDirs = []
  const removeData = () => dataDirs.splice(0).forEach((dir) => rmSync(dir, { recursive: true, force: true }))
  try {
    for (let index = 0; index < nodes; index += 1) {
      const port = await freePort()
      const logFile = join(workDir, `${name}-${index}.log`)
      const dataDir = mkdtempSync(join(workDir, `${name}-data-${index}-`))
      dataDirs.push(dataDir)
      const command = await argvFor(port, index, dataDir)
      const { argv, env: nodeEnv } = Array.isArray(command) ? { argv: command, env: {} } : command
      const child = startChild(argv, { cpu: cpus.broker, logFile, env: { ...env, ...nodeEnv } })
      const node = { port, pid: child.pid, child, logFile }
      started.push(node)
      // Cluster members start together: none listens before a quorum of its etcd cluster is up.
      if (together) continue
      await waitForPort(port, child, startMs)
      if (ready) await ready(node, child, index)
    }
    if (together) {
      await Promise.all(started.map((node) => waitForPort(node.port, node.child, 90_000)))
      if (ready) await Promise.all(started.map((node, index) => ready(node, node.child, index)))
    }
    if (allReady !== undefined) await allReady()
  } catch (error) {
    await Promise.all(started.map((node) => node.child.stop()))
    removeData()
    const logs = started.map((node) => tail(node.logFile)).join(' | ')
    throw new Error(`${LABELS[name]} did not start: ${error.message}: ${logs}`, { cause: error })
  }
  return {
    nodes: started.map(({ child: _child, logFile: _logFile, ...node }) => node),
    rssKiB: (index = 0) => rssKiB(started[index].pid),
    /** The largest peak RSS of any node since it started, in KiB. */
    peakRssKiB: () => Math.max(...started.map((node) => peakRssKiB(node.pid))),
    cpuSeconds: () => started.reduce((sum, node) => sum + cpuSeconds(node.pid), 0),
    running: () => started.every((node) => node.child.running),
    /** Resolves to the nodes whose process did not exit cleanly (code 0 or our SIGTERM), with their last log lines. */
    async stop() {
      // Cluster members leave one by one, so the others keep their etcd quorum; the last one has
      // none left to revoke its lease with, and its forced exit after the shutdown timeout is
      // not a crash.
      const results = []
      if (together) for (const node of started) results.push(await node.child.stop())
      else results.push(...(await Promise.all(started.map((node) => node.child.stop()))))
      removeData()
      return results
        .map((result, index) => ({ ...result, node: index, logTail: tail(started[index].logFile) }))
        .filter(({ code, signal, node }) => !(code === 0 || signal === 'SIGTERM' || (together && node === started.length - 1 && code === 1)))
    },
  }
}

/**
 * The arguments of one FluxMQ node after `node` and its flags: every listener but MQTT TCP off
 * (HTTP on `httpPort`, AMQP on `amqpPort` when given), storage in `dataDir`. `defaults`: the
 * shipped session queue bound. `settings`: more `key=value` configuration, each passed as `--set`.
 */
export function fluxmqArgs({ root, port, httpPort, amqpPort, dataDir, storage, defaults = false, settings = [] }) {
  return [
    join(root, 'apps/broker/dist/bin.js'),
    ...['--set', `server.mqtt.tcp.addr=127.0.0.1:${port}`],
    ...['--set', `server.http.addr=${httpPort === undefined ? '' : `127.0.0.1:${httpPort}`}`],
    ...['--set', 'server.mqtt.websocket.addr=', '--set', `server.amqp.addr=${amqpPort === undefined ? '' : `127.0.0.1:${amqpPort}`}`],
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
 * deployment then carries as `httpPort` (for /metrics); with `amqp`, its AMQP listener too
 * (`amqpPort`); with `nodes` > 1, a cluster on loopback (an embedded etcd member each).
 * `nodeFlags` go to node before the script (--fluxmq-node-flags).
 */
async function fluxmq({ root, workDir, storage, profileDir, profileName, nodes = 1, metrics = false, amqp = false, nodeFlags = [], defaults = false, settings = [] }) {
  const profile = (index) =>
    profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${profileName}${nodes > 1 ? `-n${index + 1}` : ''}.cpuprofile`] : []
  const cluster = nodes > 1
  // A cluster's nodes answer /api/v1/cluster: the run starts once every node sees every other.
  const httpPorts = metrics || cluster ? await Promise.all(Array.from({ length: nodes }, () => freePort())) : []
  const amqpPorts = amqp ? await Promise.all(Array.from({ length: nodes }, () => freePort())) : []
  const clusterArgs = cluster ? await clusterKeys(nodes) : () => []
  const ready = async (node, child, index) => {
    if (!amqp) return
    node.amqpPort = amqpPorts[index]
    await waitForPort(node.amqpPort, child)
  }
  const deployment = await deploy(
    'fluxmq',
    nodes,
    workDir,
    (port, index, dataDir) => [
      'node',
      ...nodeFlags,
      ...profile(index),
      ...fluxmqArgs({ root, port, httpPort: httpPorts[index], amqpPort: amqpPorts[index], dataDir, storage, defaults, settings }),
      ...clusterArgs(index, dataDir),
    ],
    { ready, together: cluster, allReady: cluster ? () => clusterReady(httpPorts, nodes) : undefined },
  )
  httpPorts.forEach((httpPort, index) => (deployment.nodes[index].httpPort = httpPort))
  return deployment
}

/**
 * The cluster keys of SPEC §2 for node `index` of `nodes` on loopback: an embedded etcd member
 * each (one etcd cluster of `nodes` members), a transport port each.
 */
async function clusterKeys(nodes) {
  const ports = await Promise.all(Array.from({ length: nodes * 3 }, () => freePort()))
  const initial = Array.from({ length: nodes }, (_, i) => `n${i + 1}=http://127.0.0.1:${ports[nodes + i]}`).join(',')
  return (index, dataDir) =>
    [
      'cluster.enabled=true',
      `cluster.node_id=n${index + 1}`,
      `cluster.etcd.data_dir=${join(dataDir, 'etcd')}`,
      `cluster.etcd.client_addr=127.0.0.1:${ports[index]}`,
      `cluster.etcd.peer_addr=127.0.0.1:${ports[nodes + index]}`,
      `cluster.etcd.initial_cluster=${initial}`,
      `cluster.transport.addr=127.0.0.1:${ports[2 * nodes + index]}`,
    ].flatMap((kv) => ['--set', kv])
}

/** Resolves once every node's /api/v1/cluster lists every node and a closed breaker to each other one. */
async function clusterReady(httpPorts, nodes) {
  const deadline = Date.now() + 90_000
  for (;;) {
    const views = await Promise.all(
      httpPorts.map((port) =>
        fetch(`http://127.0.0.1:${port}/api/v1/cluster`, { signal: AbortSignal.timeout(2_000) })
          .then((response) => response.json())
          .catch(() => undefined),
      ),
    )
    if (views.every((v) => v?.nodes?.length === nodes && v.peers?.length === nodes - 1 && v.peers.every((p) => p.breaker === 'closed'))) return
    if (Date.now() > deadline) throw new Error(`the ${nodes} nodes did not see each other within 90 s`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
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

/**
 * RabbitMQ with AMQP (1.0 through its plugin on 3.x) on `amqpPort` and MQTT on `port`, beside its
 * own epmd. The node's pid is the Erlang VM's, not the wrapper script's.
 */
async function rabbitmq({ workDir }) {
  const [amqpPort, distPort, epmdPort] = await Promise.all([freePort(), freePort(), freePort()])
  // epmd first, as our child: the VM finds it on ERL_EPMD_PORT and starts no daemon of its own.
  const epmd = startChild(['epmd', '-port', String(epmdPort)], { cpu: cpus.broker, logFile: join(workDir, `epmd-${epmdPort}.log`) })
  try {
    await waitForPort(epmdPort, epmd)
    // Booting the VM and its plugins takes about 12 s on an idle core.
    const deployment = await deploy('rabbitmq', 1, workDir, (port, _index, dataDir) => rabbitmqNode({ dataDir, amqpPort, mqttPort: port, distPort, epmdPort }), {
      startMs: 120_000,
      ready: async (node, child) => {
        node.amqpPort = amqpPort
        await waitForPort(amqpPort, child, 60_000)
        node.pid = beamPid(child.pid) ?? child.pid
      },
    })
    const vm = deployment.nodes[0].pid
    const stop = deployment.stop
    deployment.stop = async () => {
      const crashes = await stop()
      // The script stops the VM on SIGTERM; if the script itself had to be killed, the VM is ours to end.
      if (alive(vm)) process.kill(vm, 'SIGKILL')
      await epmd.stop()
      return crashes
    }
    return deployment
  } catch (error) {
    await epmd.stop()
    throw error
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** The ceiling of the AMQP scenarios: a rhea peer that accepts and discards (brokers/amqp-sink.mjs). */
async function amqpSink({ root, workDir }) {
  const deployment = await deploy('sink', 1, workDir, (port) => ['node', join(root, 'bench/brokers/amqp-sink.mjs'), String(port)])
  deployment.nodes[0].amqpPort = deployment.nodes[0].port
  return deployment
}

function sink(options) {
  if (options.amqp) return amqpSink(options)
  return deploy('sink', 1, options.workDir, (port) => [join(options.root, 'bench/.build/sink'), String(port)])
}

const launchers = { fluxmq, mosquitto, aedes, rabbitmq, sink }

/** Why `name` cannot run here, or null when it can. */
export function unavailable(name, root) {
  if (name === 'fluxmq' && !existsSync(join(root, 'apps/broker/dist/bin.js'))) return 'apps/broker/dist/bin.js is not built'
  if (name === 'mosquitto' && !existsSync('/usr/sbin/mosquitto')) return '/usr/sbin/mosquitto is not installed'
  if (name === 'aedes' && !existsSync(join(root, 'bench/node_modules/aedes'))) return 'aedes is not installed (pnpm install)'
  if (name === 'rabbitmq' && !existsSync(RABBITMQ_SERVER)) return `${RABBITMQ_SERVER} is not installed`
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
