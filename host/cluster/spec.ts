/**
 * The EKS cluster model a cluster file describes: the VPC and its subnets,
 * the worker nodes, the aws-node (AWS VPC CNI) and kube-proxy settings, the
 * pods, and the Services / EndpointSlices kube-proxy programs.
 */
import type { K8sService, LocalDetector, RandomizeSnat } from "../k8s/model.js";

/** Where a cluster-file item was written (for errors raised after loading). */
export interface SpecPos {
  file: string;
  line: number;
  column: number;
  text: string;
}

export interface SubnetSpec {
  id: string;
  cidr: string;
  az: string;
  pos: SpecPos;
}

export interface NodeSpec {
  name: string;
  instanceType: string;
  /** Subnet id of the primary ENI. */
  subnet: string;
  /** Primary IP of the primary ENI; default: assigned from the subnet. */
  primaryIP?: string;
  pos: SpecPos;
}

/** aws-node's environment, as ipamd reads it (defaults: amazon-vpc-cni-k8s config/master/aws-k8s-cni.yaml). */
export interface AwsNodeSettings {
  /** AWS_VPC_K8S_CNI_EXTERNALSNAT (false) */
  externalSnat: boolean;
  /** AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS ("") */
  excludeSnatCidrs: string[];
  /** AWS_VPC_K8S_CNI_RANDOMIZESNAT (prng) */
  randomizeSnat: RandomizeSnat;
  /** AWS_VPC_K8S_CNI_CONNMARK (0x80) */
  connmark: number;
  /** WARM_ENI_TARGET (1) */
  warmEniTarget: number;
  /** WARM_IP_TARGET (unset = 0) */
  warmIpTarget: number;
  /** MINIMUM_IP_TARGET (unset = 0) */
  minimumIpTarget: number;
  /** WARM_PREFIX_TARGET (1 in the EKS manifest) */
  warmPrefixTarget: number;
  /** ENABLE_PREFIX_DELEGATION (false) */
  prefixDelegation: boolean;
  /** AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG (false) */
  customNetworking: boolean;
  /** ENIConfig name (= availability zone, ENI_CONFIG_LABEL_DEF topology.kubernetes.io/zone) -> subnet id. */
  eniConfigs: Map<string, string>;
  /** AWS_VPC_K8S_CNI_VETHPREFIX (eni) */
  vethPrefix: string;
  /** AWS_VPC_CNI_NODE_PORT_SUPPORT (true) */
  nodePortSupport: boolean;
}

export interface KubeProxySettings {
  masqueradeBit: number;
  masqueradeAll: boolean;
  localDetector: LocalDetector;
  /** --nodeport-addresses; undefined = all addresses. */
  nodePortAddresses?: string[];
}

export interface PodSpec {
  name: string;
  namespace: string;
  node: string;
  hostNetwork: boolean;
  pos: SpecPos;
}

/** One endpoint of an EndpointSlice (discovery.k8s.io/v1), single IPv4 address. */
export interface SliceEndpoint {
  address: string;
  nodeName?: string;
  /** targetRef of kind Pod. */
  pod?: { namespace: string; name: string };
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  pos: SpecPos;
}

export interface EndpointSliceSpec {
  namespace: string;
  name: string;
  /** The kubernetes.io/service-name label. */
  service: string;
  ports: { name: string; port: number; protocol: string }[];
  endpoints: SliceEndpoint[];
}

export interface ClusterSpec {
  /** The cluster file (as given). */
  file: string;
  name: string;
  /** VPC CIDRs, primary first. */
  vpcCidrs: string[];
  subnets: SubnetSpec[];
  nodes: NodeSpec[];
  awsNode: AwsNodeSettings;
  kubeProxy: KubeProxySettings;
  pods: PodSpec[];
  services: K8sService[];
  endpointSlices: EndpointSliceSpec[];
  /** Things read and deliberately not used (IPv6 slices, legacy Endpoints...). */
  notes: string[];
}
