#!/usr/bin/env node
// The broker side of cpu-ab.mjs: `node cpu-ab-broker.mjs <@fluxmq/amqp dist directory>`. The core
// of this checkout on memory storage behind the AmqpServer of the given build, on a free loopback
// port (printed as one JSON line); nothing logged below errors. SIGTERM ends it (and writes a
// --cpu-prof profile).
import { pathToFileURL } from 'node:url'

const core = await import(new URL('../../packages/core/dist/index.js', import.meta.url).href)
const { AmqpServer } = await import(pathToFileURL(`${process.argv[2]}/index.js`).href)
const quiet = () => {}
const logger = { child: () => logger, trace: quiet, debug: quiet, info: quiet, warn: quiet, error: (...args) => console.error(...args), fatal: (...args) => console.error(...args) }
const clock = { now: () => Date.now() }
const broker = new core.Broker({
  nodeId: 'cpu-ab',
  version: '0',
  clock,
  logger,
  storage: new core.MemoryStorage(),
  maxQos: 2,
  retryIntervalMs: 20_000,
  maxOfflineMessages: 100_000,
  offlineOverflow: 'drop_oldest',
  defaultExpiry: 7200,
  maxExpiry: 0,
  maxRetainedMessages: 0,
  maxSubscriptionsPerClient: 0,
  sysIntervalMs: 0,
})
await broker.start()
const server = new AmqpServer({ broker, logger, clock, containerId: 'cpu-ab', allowAnonymous: true, maxMessageSize: 1 << 20, connectTimeoutMs: 10_000, window: 256, maxWriteBuffer: 1 << 20, maxBufferedBytes: 64 << 20 })
const { port } = await server.listenTcp({ host: '127.0.0.1', port: 0 })
process.on('SIGTERM', () => process.exit(0))
process.stdout.write(`${JSON.stringify({ port })}\n`)
