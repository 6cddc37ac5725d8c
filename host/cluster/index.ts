/**
 * The EKS cluster model: cluster files (load.ts), ipamd's address
 * management (ipam.ts), instance-type limits (instance-types.ts) and
 * rendering nodes into snapshot directories (render.ts).
 */
export { loadClusterFile, parseClusterText, AWS_NODE_ENV } from "./load.js";
export { renderCluster, writeRenderedNode, type RenderedCluster, type RenderedNode } from "./render.js";
export { allocateCluster, type NodeIpam, type IpamEni } from "./ipam.js";
export { INSTANCE_TYPES, instanceType, maxPods, type InstanceType } from "./instance-types.js";
export type { ClusterSpec, NodeSpec, PodSpec, SubnetSpec, AwsNodeSettings, KubeProxySettings, EndpointSliceSpec } from "./spec.js";
