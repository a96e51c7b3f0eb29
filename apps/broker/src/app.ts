import { hostname } from 'node:os'
import { resolve } from 'node:path'
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import { Broker, MemoryStorage } from '@fluxmq/core'
import type { Clock, Logger, QoS, Storage } from '@fluxmq/core'
import type { ClusterNode } from '@fluxmq/cluster'
import { AmqpServer } from '@fluxmq/amqp'
import { MqttServer } from '@fluxmq/mqtt'
import { DATABASE_FILE, SqliteStorage } from '@fluxmq/storage'
import { createAdminApi } from './admin/admin-api.js'
import type { FluxConfig } from './config/schema.js'
import { formatAddress, type Address } from './config/units.js'
import { amqpTlsAddress, tlsAddress } from './config/validate.js'
import { registerClusterMetrics } from './http/cluster-metrics.js'
import { createMetrics } from './http/metrics.js'
import { createQueues } from './queues/queues.js'
import { closeHttp, createHttpServer, listenHttp } from './http/server.js'
import type { Readiness } from './http/server.js'
import { ReadinessTracker } from './readiness.js'
import { loadAuth, loadTlsFiles, reloadAuth } from './referenced-files.js'
import { VERSION } from './version.js'

export type ListenerName = 'mqtt-tcp' | 'mqtt-tls' | 'mqtt-websocket' | 'amqp' | 'amqps' | 'http'

export interface RunningBroker {
  readonly nodeId: string
  /** Bound addresses of the enabled listeners (the real port when the config said 0). */
  readonly addresses: Readonly<Partial<Record<ListenerName, AddressInfo>>>
  readiness(): Readiness
  /**
   * Re-reads auth.password_file and auth.acl_file (SIGHUP) and returns the keys reloaded; throws a
   * ConfigError naming the key, and keeps the previous files, when one cannot be read or parsed.
   * Other configuration changes need a restart.
   */
  reload(): string[]
  /**
   * Graceful stop: listeners stop accepting, clients get DISCONNECT 0x8B and are closed, storage
   * is flushed and closed, HTTP goes last (so /ready reports the shutdown while it runs).
   */
  close(): Promise<void>
}

/** Wall-clock time for the core; the only clock in the process. */
const systemClock: Clock = { now: () => Date.now() }
const TICK_MS = 1000
const SYS_INTERVAL_MS = 10_000

/** cluster.node_id when set; otherwise the host name, which is what a single node is known by. */
export function nodeIdOf(config: FluxConfig): string {
  return config.cluster.node_id !== '' ? config.cluster.node_id : hostname()
}

function createStorage(config: FluxConfig['storage'], logger: Logger): Storage {
  return config.type === 'sqlite' ? new SqliteStorage({ dir: config.dir, sync: config.sync, logger }) : new MemoryStorage()
}

/** The cluster membership of this node, from `cluster.*` (validated: etcd addresses and transport address are set). */
async function startClusterNode(config: FluxConfig, nodeId: string, storage: Storage, logger: Logger): Promise<ClusterNode> {
  // Loaded only when clustered: a single node never pulls in etcd3, gRPC and Connect.
  const { ClusterNode } = await import('@fluxmq/cluster')
  const { etcd, transport } = config.cluster
  const tls = transport.tls
  const clientAddrs: Record<string, string> = {}
  if (config.server.mqtt.tcp.addr !== null) clientAddrs.mqtt = formatAddress(config.server.mqtt.tcp.addr)
  if (config.server.mqtt.websocket.addr !== null) clientAddrs.ws = formatAddress(config.server.mqtt.websocket.addr)
  if (config.server.amqp.addr !== null) clientAddrs.amqp = formatAddress(config.server.amqp.addr)
  const listen = transport.addr as Address
  return ClusterNode.start({
    nodeId,
    clusterName: config.cluster.name,
    version: VERSION,
    clientAddrs,
    logger: logger.child({ component: 'cluster' }),
    etcd: {
      embedded: etcd.embedded
        ? {
            binary: etcd.binary,
            dataDir: etcd.data_dir,
            clientAddr: memberAddress(etcd.client_addr as Address),
            peerAddr: memberAddress(etcd.peer_addr as Address),
            initialCluster: etcd.initial_cluster,
          }
        : undefined,
      endpoints: etcd.endpoints,
      leaseTtlMs: etcd.lease_ttl,
      retainedThresholdBytes: etcd.hybrid_retained_size_threshold,
    },
    transport: {
      host: listen.host,
      port: listen.port,
      advertiseAddr: transport.advertise_addr === null ? '' : formatAddress(transport.advertise_addr),
      tls: tls.cert_file === '' ? undefined : { certFile: tls.cert_file, keyFile: tls.key_file, caFile: tls.ca_file },
    },
    sync: () => storage.sync(),
  })
}

/** etcd needs a host in its URLs: ":2379" (every interface) becomes 0.0.0.0:2379. */
function memberAddress(address: Address): string {
  return formatAddress(address.host === '' ? { ...address, host: '0.0.0.0' } : address)
}

function showAddress(address: AddressInfo): string {
  return address.family === 'IPv6' ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`
}

function showAddresses(addresses: Partial<Record<ListenerName, AddressInfo>>): Record<string, string> {
  return Object.fromEntries(Object.entries(addresses).map(([name, address]) => [name, showAddress(address)]))
}

/**
 * The composition root: builds storage, core, MQTT listeners and HTTP from a validated config and
 * owns the process's time (the core's clock and its 1 s tick). Throws a ConfigError for files the
 * config names that cannot be read, and the listener's error when a port cannot be bound; anything
 * started before the failure is closed again.
 */
export async function startBroker(config: FluxConfig, logger: Logger): Promise<RunningBroker> {
  const nodeId = nodeIdOf(config)
  const maxQos = config.broker.max_qos as QoS
  const auth = loadAuth(config.auth)
  const { authenticator, authorizer } = auth
  const tls = tlsAddress(config)
  const tlsFiles = loadTlsFiles(config)

  const storage = createStorage(config.storage, logger.child({ component: 'storage' }))
  const queues = createQueues(config, systemClock, logger)
  // A failed queue commit makes the node as unfit to serve as a failed session commit.
  const readiness = new ReadinessTracker(() => (storage instanceof SqliteStorage ? storage.failure : undefined) ?? queues.failure)
  if (config.cluster.enabled) readiness.expectCluster()
  const clusterNode = config.cluster.enabled ? await startClusterNode(config, nodeId, storage, logger) : undefined
  const broker = new Broker({
    nodeId,
    version: VERSION,
    clock: systemClock,
    logger,
    storage,
    ...(clusterNode === undefined ? {} : { cluster: clusterNode.cluster }),
    ...(authorizer === undefined ? {} : { authorizer }),
    maxQos,
    retryIntervalMs: config.broker.retry_interval,
    maxOfflineMessages: config.session.max_offline_messages,
    offlineOverflow: config.session.offline_overflow,
    defaultExpiry: Math.floor(config.session.default_expiry / 1000),
    maxExpiry: Math.floor(config.session.max_expiry / 1000),
    maxRetainedMessages: config.broker.max_retained_messages,
    maxSubscriptionsPerClient: config.limits.max_subscriptions_per_client,
    sysIntervalMs: SYS_INTERVAL_MS,
    // The same value the MQTT adapter advertises: the core keeps that many released QoS 2 ids per session.
    receiveMaximum: config.broker.receive_maximum,
    queues: queues.port,
  })
  // The core opens storage in start() and closes it in stop(); in a cluster it claims its stored
  // sessions first, then the node becomes visible to its peers. The queue engine opens after the
  // session store, so a broken storage.dir is reported as the store's failure.
  try {
    await broker.start()
    try {
      queues.open()
    } catch (error) {
      await broker.stop()
      throw error
    }
    readiness.storageOpened()
    if (clusterNode !== undefined) {
      // A memory store starts empty: it takes the cluster's retained messages before any client is
      // served. A SQLite store kept its own across the restart (and its sessions, which loading
      // would queue them for again).
      await clusterNode.join({ loadRetained: config.storage.type === 'memory' })
      readiness.joinedCluster()
    }
  } catch (error) {
    await clusterNode?.leave()
    throw error
  }
  const startedAt = systemClock.now()
  // unref: the tick alone must never keep a stopping process alive.
  const ticker = setInterval(() => {
    const now = systemClock.now()
    broker.tick(now)
    // Visibility timeouts, nack backoff and retention are as precise as this tick. A stopped
    // engine (failed commit) stays stopped: /ready reports it.
    if (queues.failure === undefined) queues.engine.tick(now)
  }, TICK_MS)
  ticker.unref()

  const mqtt = new MqttServer({
    broker,
    logger,
    clock: systemClock,
    ...(authenticator === undefined ? {} : { authenticator }),
    allowAnonymous: config.auth.allow_anonymous,
    maxPacketSize: config.broker.max_packet_size,
    maxQos,
    receiveMaximum: config.broker.receive_maximum,
    topicAliasMaximum: config.broker.topic_alias_maximum,
    serverKeepAlive: config.broker.server_keep_alive,
    connectTimeoutMs: config.limits.connect_timeout,
    maxWriteBuffer: config.limits.max_write_buffer,
    writeStallTimeoutMs: config.limits.write_stall_timeout,
    maxBufferedBytes: config.limits.max_buffered_bytes,
    publishRate: config.limits.publish_rate,
  })

  // limits.max_buffered_bytes is the whole process's: both fronts' socket buffers and the core's queues.
  const bufferedBytes = (): number => mqtt.bufferedBytes + amqp.writeBufferedBytes
  const amqp = new AmqpServer({
    broker,
    logger: logger.child({ protocol: 'amqp' }),
    clock: systemClock,
    containerId: nodeId,
    ...(authenticator === undefined ? {} : { authenticator }),
    allowAnonymous: config.auth.allow_anonymous,
    maxMessageSize: config.broker.max_packet_size,
    connectTimeoutMs: config.limits.connect_timeout,
    window: config.broker.receive_maximum,
    maxWriteBuffer: config.limits.max_write_buffer,
    writeStallTimeoutMs: config.limits.write_stall_timeout,
    maxBufferedBytes: config.limits.max_buffered_bytes,
    bufferedBytes: () => bufferedBytes(),
  })

  const addresses: Partial<Record<ListenerName, AddressInfo>> = {}
  let http: Server | undefined
  let stopping = false
  const close = async (): Promise<void> => {
    if (stopping) return
    stopping = true
    readiness.shuttingDown()
    logger.info({}, 'shutting down')
    await mqtt.close()
    await amqp.close()
    await broker.stop()
    // After the broker: its last releases and route removals reach etcd before the lease goes.
    await clusterNode?.leave()
    clearInterval(ticker)
    // After the core: closing its links detached their queue consumers.
    queues.close()
    if (http !== undefined) await closeHttp(http)
    logger.info({}, 'stopped')
  }

  const bound = (name: ListenerName, address: AddressInfo): void => {
    addresses[name] = address
    readiness.bound(name, address)
    logger.info({ listener: name, address: address.address, port: address.port }, `${name} listening on ${showAddress(address)}`)
  }
  // limits.connection_rate is per listener; server.mqtt.tcp.max_connections is the TCP listener's own.
  const listenOn = (address: Address, maxConnections = 0) => ({
    host: address.host,
    port: address.port,
    maxConnections,
    connectionRate: config.limits.connection_rate,
  })

  try {
    const { tcp, websocket } = config.server.mqtt
    const httpAddress = config.server.http.addr
    if (tcp.addr !== null) readiness.expect('mqtt-tcp')
    if (tls !== null) readiness.expect('mqtt-tls')
    if (websocket.addr !== null) readiness.expect('mqtt-websocket')
    const amqpAddress = config.server.amqp.addr
    const amqpsAddress = amqpTlsAddress(config)
    if (amqpAddress !== null) readiness.expect('amqp')
    if (amqpsAddress !== null) readiness.expect('amqps')
    if (httpAddress !== null) readiness.expect('http')

    if (tcp.addr !== null) bound('mqtt-tcp', await mqtt.listenTcp(listenOn(tcp.addr, tcp.max_connections)))
    if (tls !== null && tlsFiles !== undefined) {
      bound('mqtt-tls', await mqtt.listenTls({ ...listenOn(tls), ...tlsFiles, clientAuth: config.server.mqtt.tls.client_auth }))
    }
    if (websocket.addr !== null) bound('mqtt-websocket', await mqtt.listenWebSocket({ ...listenOn(websocket.addr), path: websocket.path }))
    if (amqpAddress !== null) bound('amqp', await amqp.listenTcp({ host: amqpAddress.host, port: amqpAddress.port }))
    if (amqpsAddress !== null && tlsFiles !== undefined) {
      bound('amqps', await amqp.listenTls({ host: amqpsAddress.host, port: amqpsAddress.port, ...tlsFiles, clientAuth: config.server.mqtt.tls.client_auth }))
    }
    if (httpAddress !== null) {
      const admin = createAdminApi(broker, queues.engine, {
        nodeId,
        clusterName: config.cluster.name,
        version: VERSION,
        startedAt,
        now: systemClock.now,
        listeners: () => showAddresses(addresses),
        amqp: () => amqp.connectionList(),
        ...(clusterNode === undefined ? {} : { cluster: () => clusterNode.report() }),
      })
      const metrics = createMetrics(
        () => broker.stats,
        { node: nodeId, version: VERSION },
        () => ({
          writeStallDisconnects: mqtt.stats.writeStallDisconnects + amqp.stats.writeStallDisconnects,
          memoryPauses: mqtt.stats.memoryPauses + amqp.stats.memoryPauses,
          bufferedBytes: bufferedBytes(),
        }),
        () => queues.engine.list(),
        () => amqp.stats,
      )
      if (clusterNode !== undefined) registerClusterMetrics(metrics, clusterNode)
      http = createHttpServer({
        token: config.server.http.token,
        metrics,
        readiness: () => readiness.report(),
        admin,
        logger: logger.child({ component: 'http' }),
      })
      bound('http', await listenHttp(http, httpAddress))
    }
  } catch (error) {
    await close()
    throw error
  }
  const storagePath = config.storage.type === 'sqlite' ? resolve(config.storage.dir, DATABASE_FILE) : undefined
  // The line an operator reads first: where the data lives and where clients connect. The message
  // itself stays fixed so that tools can wait for it.
  logger.info({ version: VERSION, storage: config.storage.type, ...(storagePath === undefined ? {} : { storagePath }), listeners: showAddresses(addresses) }, 'fluxmq started')
  return { nodeId, addresses, readiness: () => readiness.report(), reload: () => reloadAuth(config.auth, auth), close }
}
