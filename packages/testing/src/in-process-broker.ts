import type { AddressInfo } from 'node:net'
import type { RecordingLogger } from './recording-logger.js'

/**
 * The core's `BrokerOptions`, but for clock, logger and storage, of a broker that an adapter's
 * tests run in-process (the MQTT and AMQP harnesses): one node, QoS 2, no $SYS, no retained or
 * subscription limits, offline queues of 1000 that drop the oldest. Structural, like
 * `RecordingLogger`: this package imports no broker code, and the core's types check the spread.
 */
export const IN_PROCESS_BROKER_OPTIONS = {
  nodeId: 'test',
  version: '0.0.0-test',
  maxQos: 2,
  retryIntervalMs: 20_000,
  maxOfflineMessages: 1000,
  offlineOverflow: 'drop_oldest',
  defaultExpiry: 7200,
  maxExpiry: 0,
  maxRetainedMessages: 0,
  maxSubscriptionsPerClient: 0,
  sysIntervalMs: 0,
} as const

/** An adapter's server (MQTT, AMQP) on an in-process broker, listening on 127.0.0.1. */
export interface ServedBroker<B, S> {
  readonly broker: B
  readonly server: S
  readonly logger: RecordingLogger
  readonly port: number
  /** Closes the server (its connections first), then stops the broker. */
  close(): Promise<void>
}

/** Starts `server` listening on 127.0.0.1 at a free port, in front of the started `broker`. */
export async function serveOnLoopback<B extends { stop(): Promise<void> }, S extends LoopbackServer>(
  broker: B,
  server: S,
  logger: RecordingLogger,
): Promise<ServedBroker<B, S>> {
  const address = await server.listenTcp({ host: '127.0.0.1', port: 0 })
  return {
    broker,
    server,
    logger,
    port: address.port,
    close: async () => {
      await server.close()
      await broker.stop()
    },
  }
}

interface LoopbackServer {
  listenTcp(options: { host: string; port: number }): Promise<AddressInfo>
  close(): Promise<void>
}
