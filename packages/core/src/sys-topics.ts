import type { BrokerStats } from './api.js'

/** `$SYS/broker/…` topics and values, named as mosquitto names them so existing dashboards work. */
export function sysTopics(
  stats: BrokerStats,
  version: string,
  uptimeSeconds: number,
): readonly (readonly [topic: string, value: string])[] {
  return [
    ['$SYS/broker/version', `fluxmq ${version}`],
    ['$SYS/broker/uptime', `${uptimeSeconds} seconds`],
    ['$SYS/broker/clients/connected', String(stats.connectionsCurrent)],
    // mosquitto's "total" counts sessions, connected or not.
    ['$SYS/broker/clients/total', String(stats.sessionsCurrent)],
    ['$SYS/broker/messages/received', String(stats.messagesReceived)],
    ['$SYS/broker/messages/sent', String(stats.messagesSent)],
    ['$SYS/broker/messages/dropped', String(stats.messagesDropped)],
    ['$SYS/broker/bytes/received', String(stats.bytesReceived)],
    ['$SYS/broker/bytes/sent', String(stats.bytesSent)],
    ['$SYS/broker/subscriptions/count', String(stats.subscriptionsCurrent)],
    ['$SYS/broker/retained messages/count', String(stats.retainedCurrent)],
  ]
}
