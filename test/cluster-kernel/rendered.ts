/**
 * A cluster file rendered by host/cluster (renderCluster), as the kernel
 * suite uses it: every node's links (ENIs, pod host veths), its build
 * commands, its iptables-save, and the services with their endpoints as
 * kube-proxy sees them (EndpointSlice endpoints whose pod the cluster's IPAM
 * placed take that pod's address and node, as the renderer does).
 */
import type { KernelNodeSpec } from "../kernel/netns.js";
import { loadClusterFile, renderCluster, type ClusterSpec, type RenderedCluster, type RenderedNode } from "../../host/cluster/index.js";

export interface REndpoint { ip: string; port: number; node?: string }
export interface RService {
  key: string;
  clusterIP: string;
  port: number;
  proto: "tcp" | "udp";
  nodePort?: number;
  etp: "Cluster" | "Local";
  affinity: boolean;
  /** Ready endpoints for this port. */
  endpoints: REndpoint[];
}

export interface RCluster {
  spec: ClusterSpec;
  rendered: RenderedCluster;
  nodes: RenderedNode[];
  services: RService[];
}

export async function loadRendered(path: string): Promise<RCluster> {
  const spec = await loadClusterFile(path);
  const rendered = renderCluster(spec);
  const placed = new Map<string, { ip: string; node: string }>();
  for (const n of rendered.nodes) for (const p of n.pods) placed.set(`${p.namespace}/${p.name}`, { ip: p.ip, node: n.name });
  const services: RService[] = [];
  for (const s of spec.services) {
    if (!s.clusterIP || s.clusterIP === "None") continue;
    const slices = spec.endpointSlices.filter((x) => x.namespace === s.namespace && x.service === s.name);
    for (const sp of s.ports) {
      if (sp.protocol !== "TCP" && sp.protocol !== "UDP") continue;
      const eps: REndpoint[] = [];
      for (const sl of slices) {
        const port = sl.ports.find((p) => p.name === (sp.name ?? "") && p.protocol === sp.protocol);
        if (!port) continue;
        for (const ep of sl.endpoints) {
          if (!ep.ready) continue;
          const ref = ep.pod ? placed.get(`${ep.pod.namespace}/${ep.pod.name}`) : undefined;
          if (ep.pod && spec.pods.some((p) => p.namespace === ep.pod!.namespace && p.name === ep.pod!.name) && !ref) continue;
          eps.push({ ip: ref?.ip ?? ep.address, port: port.port, node: ref?.node ?? ep.nodeName });
        }
      }
      services.push({
        key: `${s.namespace}/${s.name}:${sp.name ?? ""}`, clusterIP: s.clusterIP, port: sp.port, proto: sp.protocol === "UDP" ? "udp" : "tcp",
        nodePort: sp.nodePort || undefined, etp: s.externalTrafficPolicy ?? "Cluster", affinity: s.sessionAffinity === "ClientIP", endpoints: eps,
      });
    }
  }
  return { spec, rendered, nodes: rendered.nodes, services };
}

/** The harness spec of a rendered node: its ENIs and pod veths as links, its commands, redirects off (see FINDINGS.md). */
export function kernelSpecOf(n: RenderedNode): KernelNodeSpec {
  const links = [...n.enis.map((e) => e.name), ...n.pods.map((p) => p.veth)];
  const devs = ["all", "default", ...links];
  return {
    links: links.map((name) => ({ name, mtu: 9001 })),
    commands: [...n.commands, ...devs.map((d) => `sysctl -qw net.ipv4.conf.${d}.send_redirects=0`)],
  };
}

/** Network files of a rendering without its iptables-save (to check two renderings build the same nodes). */
export function networkFiles(n: RenderedNode): string {
  return Object.keys(n.files).filter((k) => k !== "iptables-save.txt").sort().map((k) => `== ${k}\n${n.files[k]}`).join("") + n.commands.join("\n");
}
