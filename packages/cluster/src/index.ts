export { EtcdCluster, type EtcdClusterOptions } from './etcd-cluster.js'
export { ClusterNode, type ClusterNodeOptions, type ClusterReport, type EmbeddedEtcdOptions } from './cluster-node.js'
export { ClusterNodeError, ClusterNodeErrorCode } from './errors.js'
