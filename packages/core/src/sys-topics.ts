import type { Stats } from './stats.js'

/**
 * `$SYS/broker/…` topics and values, named as mosquitto names them (`man mosquitto`, Broker Status)
 * so existing dashboards work. Only what the core counts with mosquitto's meaning is published;
 * see the README for the names left out and why.
 */
export function sysTopics(stats: Stats, version: string, uptimeSeconds: number): [topic: string, value: string][] {
  return [
    ['$SYS/broker/version', `fluxmq ${version}`],
    ['$SYS/broker/uptime', `${uptimeSeconds} seconds`],
    ['$SYS/broker/clients/connected', String(stats.connectionsCurrent)],
    // Sessions with expiry 0 end with their connection, so every session not connected is a persistent one.
    ['$SYS/broker/clients/disconnected', String(stats.sessionsCurrent - stats.connectionsCurrent)],
    // mosquitto's "total" counts sessions, connected or not.
    ['$SYS/broker/clients/total', String(stats.sessionsCurrent)],
    ['$SYS/broker/clients/maximum', String(stats.connectionsMaximum)],
    ['$SYS/broker/clients/expired', String(stats.sessionsExpired)],
    ['$SYS/broker/messages/inflight', String(stats.inflightCurrent)],
    ['$SYS/broker/publish/messages/received', String(stats.messagesReceived)],
    ['$SYS/broker/publish/messages/sent', String(stats.messagesSent)],
    ['$SYS/broker/publish/messages/dropped', String(stats.messagesDropped)],
    ['$SYS/broker/bytes/received', String(stats.bytesReceived)],
    ['$SYS/broker/bytes/sent', String(stats.bytesSent)],
    ['$SYS/broker/subscriptions/count', String(stats.subscriptionsCurrent)],
    ['$SYS/broker/retained messages/count', String(stats.retainedCurrent)],
  ]
}
