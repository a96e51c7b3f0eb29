export { ClusterError, ClusterErrorCode } from './errors.js'
export { connectEtcd, type EtcdClientOptions, type EtcdConnection } from './client.js'
export { EtcdMember, type EtcdMemberOptions, type EtcdMemberTls } from './etcd-member.js'
export * as keyspace from './keyspace.js'
export { NodeLease, type NodeLeaseOptions } from './node-lease.js'
export { NodeRegistry, type NodeInfo } from './node-registry.js'
export { WatchedPrefix, type PrefixEntry, type PrefixHandler } from './watched-prefix.js'
export {
  SessionOwnership,
  type ClaimAttempt,
  type ObservedOwnership,
  type SessionClaimResult,
  type SessionOwner,
  type SessionOwnershipOptions,
} from './session-ownership.js'
export { RouteTable, type RouteChange, type RouteTableOptions } from './route-table.js'
export { LeaderElection, type LeaderElectionOptions } from './leader-election.js'
export { RetainedIndex, type RetainedChange, type RetainedIndexOptions } from './retained-index.js'
export { WillIndex, WILL_INLINE_LIMIT, type StoredWill, type StoredWillEntry, type LeaderTerm, type WillIndexOptions, type WillWriteOptions } from './will-index.js'
export type { MessageHeader, StoredMessage } from './message-record.js'
export { SubscriptionStore, type SavedSession, type SavedSessionEntry } from './subscription-store.js'
