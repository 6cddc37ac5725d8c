/**
 * Rendering a cluster into per-node snapshot directories: the files a real
 * EKS node's `ip`, `sysctl`, `ss` and `iptables-save` would print (see
 * host/snapshot/files.ts), from the cluster file's VPC, nodes, aws-node and
 * kube-proxy settings, pods and Kubernetes objects, and the commands that
 * build the same node in a network namespace.
 *
 * Endpoints: an EndpointSlice endpoint whose targetRef names a pod of the
 * cluster file takes that pod's address and node (the cluster's IPAM is the
 * authority; a different address in the slice is reported in `notes`); an
 * endpoint whose pod could not be placed is left out (and noted). Other
 * endpoints are used as written; they are local to a node when their
 * `nodeName` is that node (kube-proxy's CategorizeEndpoints).
 */
import { writeFile } from "node:fs/promises";
import { makeDir } from "../util/fs.js";
import { join } from "node:path";
import { renderNodeIptables } from "../k8s/iptables.js";
import { renderKubeProxy } from "../k8s/kube-proxy.js";
import type { K8sEndpoint } from "../k8s/model.js";
import { renderVpcCni } from "../k8s/vpc-cni.js";
import { allocateCluster } from "./ipam.js";
import { hostVethName, renderNodeNetwork, type NodePod } from "./node-files.js";
import type { ClusterSpec } from "./spec.js";

export interface RenderedNode {
  name: string;
  instanceType: string;
  /** Snapshot files by name (ip-link.txt, ip-addr.txt, ip-route.txt, ip-rule.txt, sysctl.txt, ss.txt, iptables-save.txt, meta.txt). */
  files: Record<string, string>;
  /** Shell commands that build the node's addresses, routes, rules and sysctls in a namespace whose links (ENIs ethN, pod host veths) already exist and are up; load iptables-save.txt with iptables-restore. */
  commands: string[];
  enis: { name: string; ip: string; mac: string; subnet: string; table: number }[];
  pods: { name: string; namespace: string; ip: string; veth: string; eni: string }[];
  /** kubelet's max pods for this node. */
  maxPods: number;
  /** Rule lines of iptables-save.txt per table. */
  iptablesRules: Record<string, number>;
}

export interface RenderedCluster {
  nodes: RenderedNode[];
  /** Pods that got no place: the node is full (max pods) or ipamd had no address. */
  unscheduled: { pod: string; node: string; reason: string }[];
  /** Inputs read and deliberately not used, and endpoint fix-ups. */
  notes: string[];
}

export function renderCluster(spec: ClusterSpec): RenderedCluster {
  const notes = [...spec.notes];
  const specForIpam: ClusterSpec = { ...spec, notes: [] };
  const ipams = allocateCluster(specForIpam);
  notes.push(...specForIpam.notes);
  const a = spec.awsNode;

  // where every pod ended up
  const placed = new Map<string, { ip: string; node: string }>();
  const unscheduled: RenderedCluster["unscheduled"] = [];
  for (const n of ipams) {
    for (const p of n.pods) placed.set(`${p.pod.namespace}/${p.pod.name}`, { ip: p.ip, node: n.node.name });
    for (const u of n.unplaced) unscheduled.push({ pod: `${u.pod.namespace}/${u.pod.name}`, node: n.node.name, reason: u.reason });
  }
  const podKeys = new Set(spec.pods.map((p) => `${p.namespace}/${p.name}`));

  // endpoints per service, from the slices
  const endpoints = new Map<string, K8sEndpoint[]>();
  for (const sl of spec.endpointSlices) {
    const key = `${sl.namespace}/${sl.service}`;
    const list = endpoints.get(key) ?? [];
    endpoints.set(key, list);
    const ports: Record<string, number> = {};
    for (const p of sl.ports) ports[p.name] = p.port;
    for (const ep of sl.endpoints) {
      let ip = ep.address;
      let nodeName = ep.nodeName;
      const ref = ep.pod ? `${ep.pod.namespace}/${ep.pod.name}` : undefined;
      if (ref && podKeys.has(ref)) {
        const got = placed.get(ref);
        if (!got) {
          notes.push(`EndpointSlice ${sl.namespace}/${sl.name}: endpoint ${ep.address} left out: its pod ${ref} was not placed`);
          continue;
        }
        if (got.ip !== ip) notes.push(`EndpointSlice ${sl.namespace}/${sl.name}: endpoint ${ep.address} is pod ${ref}, which has ${got.ip} here`);
        if (nodeName !== undefined && nodeName !== got.node) notes.push(`EndpointSlice ${sl.namespace}/${sl.name}: endpoint ${ep.address} says node ${nodeName}; pod ${ref} runs on ${got.node}`);
        ip = got.ip;
        nodeName = got.node;
      }
      const e: K8sEndpoint = { ip, ports, ready: ep.ready, serving: ep.serving, terminating: ep.terminating };
      if (nodeName !== undefined) e.nodeName = nodeName;
      list.push(e);
    }
  }
  const healthCheckPorts = [...new Set(spec.services.filter((s) => s.type === "LoadBalancer" && s.externalTrafficPolicy === "Local" && s.healthCheckNodePort)
    .map((s) => s.healthCheckNodePort!))].sort((x, y) => x - y);

  const nodes: RenderedNode[] = ipams.map((n) => {
    const podsOut: NodePod[] = n.pods.filter((p) => p.device >= 0).map((p) => {
      const eni = n.enis[p.device];
      return { name: p.pod.name, namespace: p.pod.namespace, ip: p.ip, veth: hostVethName(a.vethPrefix, p.pod.namespace, p.pod.name), eni: eni.name, table: eni.table };
    });
    const net = renderNodeNetwork(n, podsOut, {
      fwmarkRule: a.nodePortSupport || !a.externalSnat, connmark: a.connmark, rpFilterAll: 1, healthCheckPorts,
    });
    const nodeIp = n.enis[0].primaryIp;
    const kp = renderKubeProxy(spec.services, endpoints, {
      nodeName: n.node.name, nodeIPs: [nodeIp], masqueradeBit: spec.kubeProxy.masqueradeBit, masqueradeAll: spec.kubeProxy.masqueradeAll,
      localDetector: spec.kubeProxy.localDetector, nodePortAddresses: spec.kubeProxy.nodePortAddresses,
    });
    const cni = renderVpcCni({
      primaryIp: nodeIp, vpcCidrs: spec.vpcCidrs, externalSnat: a.externalSnat, excludeSnatCidrs: a.excludeSnatCidrs,
      randomizeSnat: a.randomizeSnat, connmark: a.connmark, nodePortSupport: a.nodePortSupport, vethPrefix: a.vethPrefix,
    });
    const iptables = renderNodeIptables(kp, cni);
    const iptablesRules: Record<string, number> = {};
    let table = "";
    for (const l of iptables.split("\n")) {
      if (l.startsWith("*")) { table = l.slice(1); iptablesRules[table] = 0; }
      else if (l.startsWith("-A ")) iptablesRules[table]++;
    }
    return {
      name: n.node.name,
      instanceType: n.type.name,
      files: { ...net.files, "iptables-save.txt": iptables },
      commands: net.commands,
      enis: n.enis.map((e) => ({ name: e.name, ip: e.primaryIp, mac: e.mac, subnet: e.subnet.id, table: e.table })),
      pods: podsOut.map((p) => ({ name: p.name, namespace: p.namespace, ip: p.ip, veth: p.veth, eni: p.eni })),
      maxPods: n.maxPods,
      iptablesRules,
    };
  });
  return { nodes, unscheduled, notes };
}

/** Writes a node's snapshot directory (and build-netns.sh, the commands). */
export async function writeRenderedNode(node: RenderedNode, dir: string): Promise<void> {
  makeDir(dir);
  for (const name of Object.keys(node.files).sort()) await writeFile(join(dir, name), node.files[name]);
  const script = [
    "#!/bin/sh",
    `# Builds the addresses, routes, rules and sysctls of node ${node.name} (nodeplane render).`,
    "# Run inside a network namespace where the links of ip-link.txt exist and are up; then:",
    "#   iptables-restore < iptables-save.txt",
    "set -e",
    ...node.commands,
  ];
  await writeFile(join(dir, "build-netns.sh"), script.join("\n") + "\n");
}

export { loadClusterFile, parseClusterText } from "./load.js";
export type { ClusterSpec } from "./spec.js";
