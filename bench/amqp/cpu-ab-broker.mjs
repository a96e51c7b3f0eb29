#!/usr/bin/env node
// The broker side of cpu-ab.mjs: `node cpu-ab-broker.mjs <@fluxmq/amqp dist directory>`. The core
// of this checkout on memory storage behind the AmqpServer of the given build, on a free loopback
// port (printed as one JSON line); nothing logged below errors. SIGTERM ends it (and writes a
// --cpu-prof profile).
import { pathToFileURL } from 'node:url'

const core = await import(new URL('../../packages/core/dist/index.js', import.meta.url).href)
const { IN_PROCESS_BROKER_OPTIONS } = await import(new URL('../../packages/testing/dist/in-process-broker.js', import.meta.url).href)
const { AmqpServer } = await import(pathToFileURL(`${process.argv[2]}/index.js`).href)
const quiet = () => {}
const logger = { child: () => logger, trace: quiet, debug: quiet, info: quiet, warn: quiet, error: (...args) => console.error(...args), fatal: (...args) => console.error(...args) }
const clock = { now: () => Date.now() }
// Offline queues as deep as the load the A/B sends, so no run measures drops.
const broker = new core.Broker({ ...IN_PROCESS_BROKER_OPTIONS, nodeId: 'cpu-ab', clock, logger, storage: new core.MemoryStorage(), maxOfflineMessages: 100_000 })
await broker.start()
const server = new AmqpServer({ broker, logger, clock, containerId: 'cpu-ab', allowAnonymous: true, maxMessageSize: 1 << 20, connectTimeoutMs: 10_000, window: 256, maxWriteBuffer: 1 << 20, maxBufferedBytes: 64 << 20 })
const { port } = await server.listenTcp({ host: '127.0.0.1', port: 0 })
process.on('SIGTERM', () => process.exit(0))
process.stdout.write(`${JSON.stringify({ port })}\n`)
