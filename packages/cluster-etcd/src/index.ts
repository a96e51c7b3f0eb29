export { ClusterError, ClusterErrorCode } from './errors.js'
export { connectEtcd, type EtcdClientOptions, type EtcdConnection } from './client.js'
export { EtcdMember, type EtcdMemberOptions, type EtcdMemberTls } from './etcd-member.js'
export * as keyspace from './keyspace.js'
