export type { QoS, UserProperty, MessageProperties, Message, Delivery } from './message.js'
export { wireCache, keepWireCache, type WireCache } from './wire-cache.js'
export { Refusal, isRefusal, type PublishStatus } from './refusal.js'
export type { Clock, Logger } from './ports.js'
export type {
  SubscriptionOptions,
  SessionProtocol,
  WillRecord,
  SessionRecord,
  InflightRecord,
  StoredSession,
  StoredState,
  Storage,
} from './storage.js'
export type { CarriedDelivery, TransferredSession, SessionClaim, StoredClaim, StoredOwnership, ClusterInbound, Cluster, HeldState } from './cluster.js'
export type { ClientIdentity, AuthRequest, AuthResult, Authenticator, Authorizer } from './auth.js'
export type {
  ClientLink,
  ConnectRequest,
  ConnectResult,
  SessionHandle,
  SubscribeResult,
  PublishResult,
  DisconnectOptions,
  BrokerStats,
  DropReason,
  BrokerCore,
  BrokerOptions,
} from './api.js'
export type { Outcome } from './settlement.js'
export type { QueuePort, QueuePortDelivery, QueueAttach, QueueOutcome } from './queue-port.js'
export { Broker } from './broker.js'
export { willMessage } from './will.js'
export type { SessionInfo } from './session-info.js'
export { LocalCluster } from './local-cluster.js'
export { MemoryStorage } from './memory-storage.js'
export { TopicTrie } from './topic-trie.js'
// Topic grammar lives in @fluxmq/topic; re-exported so callers of the core's earlier API keep working.
export { validateTopicName, validateTopicFilter, parseSharedFilter, topicMatches, type SharedFilter, type TopicError } from '@fluxmq/topic'
export { BrokerError, BrokerErrorCode, FluxError } from './errors.js'
export { MemoryGate, type MemoryWaiter } from './memory-gate.js'
