/**
 * Why the core refuses a request or ends a connection, in no protocol's vocabulary. Each protocol
 * adapter maps these to its own codes (MQTT 5 reason codes, MQTT 3.1.1 return codes, AMQP error
 * conditions) and picks the nearest one its packet allows: a refusal is one meaning, a reason code
 * is one meaning in one packet. Values are stable strings, so they read as they are in logs.
 */
export const Refusal = {
  /** The Authorizer or Authenticator said no, or the client may not use the `$SYS` tree. */
  NotAuthorized: 'not_authorized',
  /** Authentication failed on the credentials themselves (user name or password). */
  BadCredentials: 'bad_credentials',
  /** The authentication method (MQTT 5 enhanced auth, SASL mechanism) is not offered. */
  BadAuthenticationMethod: 'bad_authentication_method',
  /** A limit applies: retained messages, subscriptions per client, an offline queue that rejects new messages. */
  QuotaExceeded: 'quota_exceeded',
  /** A topic name or topic filter breaks the topic grammar, or names something that cannot be addressed. */
  TopicInvalid: 'topic_invalid',
  /** The payload is not what the request needs (a queue settlement without a valid `message-id`). */
  PayloadInvalid: 'payload_invalid',
  /** The request names a message or delivery that is not (or no longer) held. */
  NotFound: 'not_found',
  /** A combination the protocol forbids and the core checks (No Local on a shared subscription). */
  ProtocolViolation: 'protocol_violation',
  /** Valid, but not accepted here (an unsupported queue option, an engine refusal without a closer match). */
  Refused: 'refused',
  /** Storage, the cluster or the queue engine cannot serve the request now. */
  ServerUnavailable: 'server_unavailable',
  /** The broker is shutting down: new connections are refused, live ones are closed. */
  ServerShuttingDown: 'server_shutting_down',
  /** Another connection claimed the session (here or on another node), or this node lost it. */
  SessionTakenOver: 'session_taken_over',
  /** An operator closed the connection (admin kick). */
  AdministrativeAction: 'administrative_action',
  /** The request did not reach its session (a stale handle) or failed for a reason not named above. */
  Unspecified: 'unspecified',
} as const
export type Refusal = (typeof Refusal)[keyof typeof Refusal]

/**
 * What became of a publish: `accepted` (routed, stored or forwarded), `no_subscribers` (accepted,
 * but no subscription, queue or other node took it), or the refusal.
 */
export type PublishStatus = 'accepted' | 'no_subscribers' | Refusal

/** A refusal rather than an accepted publish. */
export function isRefusal(status: PublishStatus): status is Refusal {
  return status !== 'accepted' && status !== 'no_subscribers'
}
